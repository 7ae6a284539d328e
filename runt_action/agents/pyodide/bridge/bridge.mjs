// The Deno side of runt_action's Pyodide engine.
//
// Protocol: JSON lines. Commands arrive on stdin ({op: init|exec|interrupt|shutdown});
// events leave on stdout ({ev: ready|stream|display|result|error|clear|done|fatal|bye}).
// stdout carries nothing else: console.log is routed to stderr here and in the worker, and
// Python's own output reaches us as messages, never as bytes on our stdout.
console.log =
  console.info =
  console.debug =
  console.warn =
    (...args) => console.error(...args);

const here = new URL(".", import.meta.url);
const encoder = new TextEncoder();
// Byte 0 is Pyodide's interrupt buffer; the Int32 at byte 4 wakes a sleeping time.sleep().
const shared = new SharedArrayBuffer(8);
const interruptBuffer = new Uint8Array(shared, 0, 4);
const wakeups = new Int32Array(shared, 4, 1);
// Coalesce bursts of small writes of one stream into one event, flushed after STREAM_MS or
// before anything else is sent, so order is kept and a chatty loop does not flood the pipe.
const STREAM_MS = 10;
let pending = null;
let pendingTimer = null;
let worker = null;
let shuttingDown = false;
let snapshotWrite = null; // the memory snapshot being written, awaited before exiting
let exiting = false;
// While a cell runs, every TICK_MS the ticker raises FLUSH_SIGNAL (SIGUSR1) in Pyodide: its
// handler (runtime.py) hands over the stream text gathered since the last batch. Written only
// into an empty buffer, so a pending SIGINT is never overwritten.
const TICK_MS = 100;
const FLUSH_SIGNAL = 10;
let ticker = null;

function startTicker() {
  stopTicker();
  ticker = setInterval(() => Atomics.compareExchange(interruptBuffer, 0, 0, FLUSH_SIGNAL), TICK_MS);
}

function stopTicker() {
  if (ticker !== null) clearInterval(ticker);
  ticker = null;
}

function write(obj) {
  let text;
  if (typeof obj.json === "string") {
    const { json, ...head } = obj; // worker.mjs emit(): Python's own JSON text, kept as is
    const body = json.trim();
    const start = JSON.stringify(head);
    text = body === "{}" ? start : start.slice(0, -1) + "," + body.slice(1);
  } else {
    text = JSON.stringify(obj);
  }
  const data = encoder.encode(text + "\n");
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

function flushStream() {
  if (pendingTimer !== null) clearTimeout(pendingTimer);
  pendingTimer = null;
  if (pending) write(pending);
  pending = null;
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function writeSnapshot(path, bytes) {
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    const meta = { size: bytes.length, sha256: await sha256Hex(bytes) };
    await Deno.writeFile(tmp, bytes);
    await Deno.writeTextFile(`${tmp}.json`, JSON.stringify(meta));
    // Data first, then the sidecar that vouches for it: a reader never sees a half file as valid.
    await Deno.rename(tmp, path);
    await Deno.rename(`${tmp}.json`, `${path}.json`);
  } catch (err) {
    console.error(`[runt-pyodide] could not write snapshot ${path}: ${err}`);
    for (const leftover of [tmp, `${tmp}.json`]) await Deno.remove(leftover).catch(() => {});
  }
}

async function exit(code) {
  exiting = true;
  stopTicker();
  flushStream();
  worker?.terminate();
  // A snapshot half written is only a missed speed-up (the sidecar comes last), but finishing
  // it is what makes the next run fast.
  if (snapshotWrite) await snapshotWrite;
  Deno.exit(code);
}

function send(msg) {
  if (msg.ev === "snapshot") {
    snapshotWrite = writeSnapshot(msg.path, msg.bytes);
    return;
  }
  if (exiting) return;
  if (msg.ev === "done") stopTicker();
  if (msg.ev === "bye") {
    flushStream();
    write(msg); // with what the last copy back could not do: the engine fails the run on it
    return exit(0);
  }
  if (msg.ev === "fatal") {
    flushStream();
    write(msg);
    return exit(70); // nothing can run any more; the engine reports the death
  }
  if (msg.ev === "stream") {
    if (pending && pending.id === msg.id && pending.name === msg.name) {
      pending.text += msg.text;
    } else {
      flushStream();
      pending = { ...msg };
    }
    if (pendingTimer === null) pendingTimer = setTimeout(flushStream, STREAM_MS);
    return;
  }
  flushStream();
  write(msg);
}

function startWorker(init) {
  worker = new Worker(new URL("./worker.mjs", here), { type: "module" });
  worker.onmessage = (event) => send(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    send({ ev: "fatal", message: `worker failed: ${event.message}` });
    Deno.exit(70);
  };
  const pyodideDir = init.pyodideDir.replace(/\/?$/, "/");
  const runtimeSource = Deno.readTextFileSync(new URL("./runtime.py", here));
  worker.postMessage({
    op: "init",
    pyodideUrl: new URL("pyodide.mjs", `file://${pyodideDir}`).href,
    indexPath: pyodideDir,
    runtimeSource,
    interruptBuffer,
    env: init.env,
    mounts: init.mounts,
    outputDir: init.outputDir,
    cwd: init.cwd,
    stdlib: init.stdlib,
    snapshot: init.snapshot,
    makeSnapshot: init.makeSnapshot,
    packages: init.packages,
  });
}

function handle(cmd) {
  if (exiting) return;
  switch (cmd.op) {
    case "init":
      startWorker(cmd);
      break;
    case "exec":
      interruptBuffer[0] = 0;
      startTicker();
      worker.postMessage({
        op: "exec",
        id: cmd.id,
        code: cmd.code,
        cellId: cmd.cellId ?? null,
      });
      break;
    case "interrupt":
      interruptBuffer[0] = 2; // SIGINT: Python raises KeyboardInterrupt at its next check
      Atomics.add(wakeups, 0, 1);
      Atomics.notify(wakeups, 0);
      worker?.postMessage({ op: "interrupt" }); // reaches a cell that is awaiting, not running
      break;
    case "shutdown":
      if (!worker) Deno.exit(0);
      shuttingDown = true;
      worker.postMessage({ op: "shutdown" });
      // A worker stuck in a cell cannot answer; do not let it hold the process.
      setTimeout(() => exit(0), 1500);
      break;
    default:
      console.error(`[runt-pyodide] unknown command ${JSON.stringify(cmd)}`);
  }
}

async function main() {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffer = "";
  for await (const chunk of lines) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) handle(JSON.parse(line));
    }
  }
  // stdin closed: our parent is gone, so are we (after the goodbye, when one is under way).
  if (!shuttingDown) exit(0);
}

main();
