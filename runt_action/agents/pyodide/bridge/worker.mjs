// Pyodide lives in this Worker so the main thread stays free to set the interrupt buffer
// while Python is busy. Everything this side says goes to the main thread by postMessage;
// it never writes to the process's stdout (that is the protocol channel).
console.log =
  console.info =
  console.debug =
  console.warn =
    (...args) => console.error(...args);

let pyodide = null;
let FS = null; // Pyodide's file system, kept apart: after a fatal error pyodide.FS throws
let runtime = null;
let outputDir = null;
let fatal = null; // what broke the interpreter for good (Pyodide's on_fatal), once it did
const writable = []; // {fsDir, hostDir, seen}: copied back to the host after every cell
// Host paths whose copy back failed -> the version (stamp) that failed: a failure is shown in
// the cell that caused it (or at shutdown), and retried after every later cell.
const failedCopies = new Map();
const SETTLE_MS = 500; // longest wait at shutdown for background tasks to finish
const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() };
let currentId = null;
let pendingTask = null; // the asyncio Task of a running cell with top-level await
let interrupt = null; // byte 0: Pyodide's interrupt buffer (2 = SIGINT)
let wakeups = null; // bumped and notified by the main thread with every interrupt

function waitInterrupt(ms) {
  // Sleep without spinning: Atomics.wait blocks this worker until the timeout or an interrupt.
  const seen = Atomics.load(wakeups, 0);
  if (interrupt[0] !== 2) Atomics.wait(wakeups, 0, seen, ms);
  if (interrupt[0] !== 2) return false;
  interrupt[0] = 0; // consumed here, as a KeyboardInterrupt raised by the caller
  return true;
}

function post(msg) {
  self.postMessage(msg);
}

function log(text) {
  console.error(`[runt-pyodide] ${text}`);
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

async function readSnapshot(path) {
  // A snapshot is trusted only when its sidecar says the bytes are the ones we wrote:
  // a truncated or foreign file would crash the wasm instance instead of failing cleanly.
  const meta = JSON.parse(await Deno.readTextFile(`${path}.json`));
  const bytes = await Deno.readFile(path);
  if (bytes.length !== meta.size || (await sha256Hex(bytes)) !== meta.sha256) {
    throw new Error(`snapshot ${path} does not match its checksum`);
  }
  return bytes;
}

function streamWriter(name) {
  // fd-level writes (os.write(1, ...), C extensions) bypass sys.stdout; catch them too.
  return {
    isatty: false,
    write(buf) {
      const text = decoder[name].decode(buf, { stream: true });
      if (text) post({ ev: "stream", id: currentId, name, text });
      return buf.length;
    },
  };
}

// The payload's JSON text goes through as Python wrote it (bridge.mjs splices it into the
// line): a JS round trip would turn 1.0 into 1 and refuse NaN, so an application/json output
// would not reach the notebook as the kernel produced it.
function emit(kind, payloadJson) {
  if (kind === "stream") {
    post({ ...JSON.parse(payloadJson), ev: kind, id: currentId }); // text: nothing to lose
    return;
  }
  post({ ev: kind, id: currentId, json: payloadJson });
}

// The runtime module is plain Python with no JS references until setup(), so defining it
// (and importing what it imports) before the snapshot is taken makes it free at boot.
function installRuntime(source) {
  const globals = pyodide.toPy({ source });
  pyodide.runPython(
    `import sys, types
if "_runt_runtime" not in sys.modules:
    module = types.ModuleType("_runt_runtime")
    exec(compile(source, "<runt-runtime>", "exec"), module.__dict__)
    sys.modules["_runt_runtime"] = module
`,
    { globals },
  );
  globals.destroy();
  return pyodide.pyimport("_runt_runtime");
}

// Pyodide's system calls answer some questions by asking Node's API, which Deno answers only
// with a permission the run does not grant: os.getuid() calls process.getuid() (Deno: sys
// "uid"), os.system() child_process.spawnSync() (env, run). A JS error thrown inside a system
// call is fatal to the interpreter (Pyodide cannot unwind the C stack), so one such call broke
// every later cell and its copy back to the host. They get the sandbox's answers instead: uid
// and gid 0 (as Emscripten's own getgid, and the owner of every file in Pyodide's file system),
// and a shell that cannot be started (os.system returns 127 << 8, as sh for a missing command;
// subprocess already raises OSError).
async function sandboxNodeApi() {
  const proc = globalThis.process;
  if (proc) {
    for (const name of ["getuid", "geteuid", "getgid", "getegid"]) {
      if (typeof proc[name] === "function") proc[name] = () => 0;
    }
    if (typeof proc.getgroups === "function") proc.getgroups = () => [0];
  }
  try {
    const childProcess = (await import("node:child_process")).default;
    const refuse = () => {
      const error = new Error("processes are not available on Pyodide");
      return { status: 127, signal: null, pid: 0, output: [null, "", ""], stdout: "", stderr: "", error };
    };
    childProcess.spawnSync = refuse;
    for (const name of ["execSync", "execFileSync"]) {
      childProcess[name] = () => {
        throw Object.assign(new Error("processes are not available on Pyodide"), { status: 127 });
      };
    }
  } catch (err) {
    log(`could not fence node:child_process: ${err}`);
  }
}

async function boot(init) {
  const started = performance.now();
  await sandboxNodeApi();
  const phases = {};
  const mark = (
    name,
  ) => (phases[name] = Math.round(performance.now() - started));
  // Reading and checking the snapshot overlaps with importing Pyodide and compiling its wasm.
  const snapshot = init.snapshot ? readSnapshot(init.snapshot) : null;
  snapshot?.catch(() => {}); // reported below, where the cold boot takes over
  const { loadPyodide } = await import(init.pyodideUrl);
  mark("import");
  let mode = "cold";
  const options = { indexURL: init.indexPath, env: { HOME: "/home/pyodide" } };
  // The precompiled stdlib (prepare.py) spares compiling every imported module in wasm.
  if (init.stdlib) options.stdLibURL = init.stdlib;
  if (snapshot) {
    try {
      pyodide = await loadPyodide({ ...options, _loadSnapshot: snapshot });
      mode = "snapshot";
    } catch (err) {
      log(`booting from the snapshot failed (${err}); booting cold`);
      pyodide = null;
    }
  }
  if (!pyodide) {
    const make = Boolean(init.makeSnapshot);
    pyodide = await loadPyodide({ ...options, _makeSnapshot: make });
    mark("cold");
    if (make) {
      const module = installRuntime(init.runtimeSource);
      module.warm(); // the modules notebooks commonly import ride in the snapshot
      module.destroy();
      mark("warm");
      try {
        // The main thread hashes and writes it (a copy, handed over without copying again)
        // while the first cells run here; it finishes that before the process exits.
        const bytes = pyodide.makeMemorySnapshot();
        self.postMessage({ ev: "snapshot", path: init.makeSnapshot, bytes }, [
          bytes.buffer,
        ]);
        mode = "cold+snapshot";
      } catch (err) {
        log(`could not make snapshot ${init.makeSnapshot}: ${err}`);
      }
    }
  }
  mark("load");
  FS = pyodide.FS;
  // A fatal error leaves the interpreter unusable: the cell fails, what it wrote before is
  // still copied back (the file system is plain JS and survives), and the process ends, so the
  // run fails instead of going on with an interpreter that can no longer write anything.
  pyodide._api.on_fatal = (err) => {
    fatal ??= err ?? new Error("unknown error");
  };
  pyodide.setStdout(streamWriter("stdout"));
  pyodide.setStderr(streamWriter("stderr"));
  pyodide.setStdin({ error: true });
  pyodide.setInterruptBuffer(init.interruptBuffer);

  const module = installRuntime(init.runtimeSource);
  mark("runtime");
  interrupt = init.interruptBuffer;
  wakeups = new Int32Array(interrupt.buffer, 4, 1);
  runtime = module.setup(emit, waitInterrupt, pyodide.toPy(init.env ?? {}));
  module.destroy();

  // Mounts sit at the same absolute path as on the host (the native runtime sees host paths
  // as they are), so a notebook runs unchanged on both. Writable ones are copied back after
  // every cell (syncBack); read-only ones are chmod'ed so a write raises PermissionError.
  for (const mount of init.mounts ?? []) {
    const seen = mount.readonly ? null : new Map();
    copyIn(mount.host, mount.target, mount.readonly, seen);
    if (seen) writable.push({ fsDir: mount.target, hostDir: mount.host, seen });
  }
  outputDir = init.outputDir ?? null;
  if (outputDir) {
    FS.mkdirTree(outputDir);
    writable.push({ fsDir: outputDir, hostDir: outputDir, seen: new Map() });
  }
  if (init.cwd) {
    FS.mkdirTree(init.cwd);
    FS.chdir(init.cwd);
  }
  mark("setup");
  if (init.packages) {
    await installPackages(init.packages);
    mark("packages");
  }
  return { mode, bootMs: Math.round(performance.now() - started), phases };
}

// Extract pure-Python wheels into site-packages: all installing a pure wheel takes, and the
// core distribution has no micropip. Wheel data dirs (purelib/platlib) are merged in.
const INSTALL_WHEELS = `
import importlib, os, shutil, sysconfig, zipfile

def install(paths):
    site = sysconfig.get_paths()["purelib"]
    for path in paths:
        with zipfile.ZipFile(path) as wheel:
            tops = {name.split("/", 1)[0] for name in wheel.namelist()}
            wheel.extractall(site)
        for data in (top for top in tops if top.endswith(".data")):
            for kind in ("purelib", "platlib"):
                source = os.path.join(site, data, kind)
                if os.path.isdir(source):
                    shutil.copytree(source, site, dirs_exist_ok=True)
            shutil.rmtree(os.path.join(site, data), ignore_errors=True)
        os.remove(path)
    importlib.invalidate_caches()
`;

async function installPackages(spec) {
  // Before the first cell: wheelhouse wheels, then distribution packages, then PyPI.
  if (spec.wheels?.length) {
    pyodide.FS.mkdirTree("/tmp/runt-wheels");
    const inFs = [];
    for (const host of spec.wheels) {
      const target = `/tmp/runt-wheels/${host.split("/").pop()}`;
      pyodide.FS.writeFile(target, await Deno.readFile(host));
      inFs.push(target);
    }
    const globals = pyodide.toPy({});
    pyodide.runPython(INSTALL_WHEELS, { globals });
    const install = globals.get("install");
    const list = pyodide.toPy(inFs);
    install(list);
    for (const proxy of [list, install, globals]) proxy.destroy();
  }
  const names = [...(spec.load ?? []), ...(spec.pip?.length ? ["micropip"] : [])];
  if (names.length) {
    const problems = [];
    await pyodide.loadPackage(names, {
      messageCallback: (m) => log(m),
      errorCallback: (m) => problems.push(String(m)),
    });
    if (problems.length) {
      throw new Error(`could not load ${names.join(", ")}: ${problems.join("; ")}`);
    }
  }
  if (spec.pip?.length) {
    const micropip = pyodide.pyimport("micropip");
    try {
      await micropip.install(pyodide.toPy(spec.pip));
    } finally {
      micropip.destroy();
    }
  }
}

async function loadImports(code) {
  // Packages Pyodide knows about load on first import, from the local distribution (or its
  // CDN when one is reachable); a failure leaves the import to raise ModuleNotFoundError.
  const problems = [];
  try {
    await pyodide.loadPackagesFromImports(code, {
      messageCallback: (m) => log(m),
      errorCallback: (m) => {
        log(m);
        problems.push(String(m));
      },
    });
  } catch (err) {
    problems.push(String(err));
  }
  // Deno's wording ("run again with --allow-net") means nothing to a notebook author.
  return problems
    .map((p) =>
      p.includes("Requires net access")
        ? "not in the local Pyodide distribution, and package downloads are off " +
          "(RUNT_PYODIDE_CDN=1 allows them)"
        : p
    )
    .join("\n");
}

function stampOf(stat) {
  return `${stat.mtime?.getTime?.() ?? stat.mtime}:${stat.size}`;
}

function copyIn(host, target, readonly, seen) {
  FS.mkdirTree(target);
  for (const entry of Deno.readDirSync(host)) {
    const src = `${host}/${entry.name}`;
    const dst = `${target}/${entry.name}`;
    if (entry.isDirectory) {
      copyIn(src, dst, readonly, seen);
    } else if (entry.isFile) {
      FS.writeFile(dst, Deno.readFileSync(src));
      if (readonly) FS.chmod(dst, 0o444);
      seen?.set(dst, stampOf(FS.stat(dst)));
    }
  }
  if (readonly) FS.chmod(target, 0o555);
}

function reason(err) {
  // Deno's errors name the operation and the path ("Permission denied (os error 13): open
  // '/x/a.txt'"); the class says which kind (PermissionDenied, IsADirectory, ...).
  const name = err?.name && err.name !== "Error" ? `${err.name}: ` : "";
  return `${name}${err?.message ?? err}`;
}

function copyProblem(path, hostPath, what, err) {
  const where = hostPath === path ? path : `${path} (host: ${hostPath})`;
  return `could not ${what} ${where} ${what === "copy" ? "back to" : "on"} the host: ${reason(err)}`;
}

function syncDir(dir, hostDir, seen, visited, problems, broken = null) {
  // Copy new or changed files from Pyodide's file system back to the host directory. Each
  // file on its own: one that cannot be written does not keep the others from the host.
  // `broken`: why this host directory cannot be made (its files are then not written).
  if (broken === null) {
    try {
      Deno.mkdirSync(hostDir, { recursive: true });
    } catch (err) {
      broken = err;
    }
  }
  for (const name of FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const path = `${dir}/${name}`;
    const stat = FS.lstat(path);
    const hostPath = `${hostDir}/${name}`;
    if (FS.isDir(stat.mode)) {
      syncDir(path, hostPath, seen, visited, problems, broken);
    } else if (FS.isFile(stat.mode)) {
      visited.add(path);
      const stamp = stampOf(stat);
      if (seen.get(path) === stamp) continue;
      try {
        if (broken !== null) throw broken;
        Deno.writeFileSync(hostPath, FS.readFile(path));
        seen.set(path, stamp);
        failedCopies.delete(hostPath);
      } catch (err) {
        problems.push({ hostPath, stamp, text: copyProblem(path, hostPath, "copy", err) });
      }
    }
  }
}

function syncBack() {
  // Writable mounts and the output directory: new and changed files reach the host, and a
  // file the notebook deleted (one that was there or that we copied) is deleted there too.
  // Returns what could not be done, except failures reported before for the same version.
  const problems = [];
  for (const { fsDir, hostDir, seen } of writable) {
    try {
      const visited = new Set();
      syncDir(fsDir, hostDir, seen, visited, problems);
      for (const path of [...seen.keys()]) {
        if (visited.has(path)) continue;
        const hostPath = hostDir + path.slice(fsDir.length);
        try {
          Deno.removeSync(hostPath);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) {
            // Kept in `seen`: the deletion is tried again after the next cell.
            problems.push({ hostPath, stamp: "deleted", text: copyProblem(path, hostPath, "delete", err) });
            continue;
          }
        }
        seen.delete(path);
        failedCopies.delete(hostPath);
      }
    } catch (err) {
      problems.push({ hostPath: hostDir, stamp: "", text: `could not copy ${fsDir} back to the host: ${reason(err)}` });
    }
  }
  const fresh = problems.filter((p) => failedCopies.get(p.hostPath) !== p.stamp);
  for (const p of problems) failedCopies.set(p.hostPath, p.stamp);
  return fresh.map((p) => p.text);
}

function reportCopyProblems(id, problems) {
  // A file the cell wrote that is not on the host fails the cell: never a silent success.
  const shown = problems.slice(0, 20);
  if (problems.length > shown.length) shown.push(`... and ${problems.length - shown.length} more`);
  post({
    ev: "error",
    id,
    ename: "WriteBackError",
    evalue: shown.join("\n"),
    traceback: ["WriteBackError: files this cell wrote did not reach the host", ...shown],
  });
}

// How often an awaiting cell's gathered stream text is handed over (as bridge.mjs's ticker).
const FLUSH_WHILE_AWAITING_MS = 100;

async function execute(id, code, cellId) {
  currentId = id;
  let reply;
  try {
    const problem = await loadImports(code);
    let outcome = runtime.run_cell(code, problem, cellId);
    if (!outcome) {
      throw new Error("the cell returned nothing (a Pyodide fatal error?)");
    }
    if (outcome.type !== "dict") {
      // A cell with top-level await: while it awaits, this worker is idle and can hear an
      // interrupt as a message (Python is not running to notice the buffer).
      pendingTask = outcome.copy(); // awaiting a PyProxy consumes it; keep one to cancel
      // The flush signal (bridge.mjs) is only heard while Python runs; while the cell awaits
      // (asyncio.sleep, a slow fetch), this worker is idle and hands the batch over itself.
      const flusher = setInterval(() => {
        try {
          runtime.flush();
        } catch (err) {
          log(`could not flush the cell's output: ${err}`);
        }
      }, FLUSH_WHILE_AWAITING_MS);
      try {
        outcome = await outcome;
      } finally {
        clearInterval(flusher);
        pendingTask.destroy();
        pendingTask = null;
      }
    }
    reply = outcome.toJs({ dict_converter: Object.fromEntries });
    outcome.destroy();
  } catch (err) {
    // run_cell catches user exceptions; reaching here means the runtime itself broke, or an
    // interrupt landed outside the cell's own frames.
    if (String(err).includes("fatally failed")) fatal ??= err;
    const interrupted = fatal === null && err?.type === "KeyboardInterrupt";
    const ename = interrupted ? "KeyboardInterrupt" : "RuntimeError";
    let evalue = interrupted ? "" : String(err);
    if (fatal !== null) {
      evalue = `the Pyodide interpreter failed fatally and cannot run anything more: ${reason(fatal)}`;
    }
    post({ ev: "error", id, ename, evalue, traceback: [] });
    reply = {
      status: interrupted ? "interrupted" : "error",
      execution_count: null,
    };
  }
  try {
    runtime.flush(); // the cell's last batch of sys.stdout/sys.stderr text
  } catch (err) {
    log(`could not flush the cell's output: ${err}`);
  }
  interrupt[0] = 0; // an interrupt that came too late must not hit the next cell
  for (const name of ["stdout", "stderr"]) {
    const rest = decoder[name].decode();
    if (rest) post({ ev: "stream", id, name, text: rest });
  }
  const problems = syncBack();
  if (problems.length) {
    reportCopyProblems(id, problems);
    if (reply.status === "ok") reply.status = "error";
  }
  if (fatal !== null) {
    // The interpreter is gone for good (what it wrote is copied above): dying lets the engine
    // fail this cell and the run with the cause.
    post({ ev: "fatal", message: `Pyodide failed fatally: ${reason(fatal)}` });
    return;
  }
  post({
    ev: "done",
    id,
    status: reply.status,
    execution_count: reply.execution_count,
  });
  currentId = null;
}

// Pyodide or asyncio may reject a promise nobody awaits (e.g. an interrupt landing inside the
// event loop); that must not take the whole runtime down.
self.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  log(`unhandled rejection: ${event.reason}`);
});

let queue = Promise.resolve();
self.onmessage = (event) => {
  const msg = event.data;
  if (msg.op === "init") {
    queue = boot(msg).then(
      (info) =>
        post({
          ev: "ready",
          boot: info.mode,
          boot_ms: info.bootMs,
          phases: info.phases,
          ...versions(),
        }),
      (err) => post({ ev: "fatal", message: String(err?.stack ?? err) }),
    );
  } else if (msg.op === "exec") {
    queue = queue.then(() => execute(msg.id, msg.code, msg.cellId));
  } else if (msg.op === "interrupt") {
    try {
      if (pendingTask) {
        interrupt[0] = 0; // consumed as the cancellation; Python must not raise it in cancel()
        pendingTask.cancel();
      }
    } catch (err) {
      log(`could not cancel the awaiting cell: ${err}`);
    }
  } else if (msg.op === "shutdown") {
    // Last copy of the writable mounts and the output dir (a cell's background task may
    // have written since), then goodbye.
    // First let the event loop run until the cells' background tasks are done (bounded: a
    // task that never ends must not hold the shutdown), so their files are in the copy.
    // What this last copy could not do goes with the goodbye: the engine fails the run with
    // it (a failure a cell already reported failed that cell, and the run with it).
    queue = queue.then(settleTasks).then(() => {
      let problems;
      try {
        problems = writable.length ? syncBack() : [];
      } catch (err) {
        problems = [`could not copy the files back to the host: ${reason(err)}`];
      }
      post({ ev: "bye", problems });
    });
  }
};

async function settleTasks() {
  const deadline = Date.now() + SETTLE_MS;
  do {
    await new Promise((resolve) => setTimeout(resolve, 0));
  } while (Date.now() < deadline && pendingTasks());
}

function pendingTasks() {
  try {
    return pyodide.runPython(
      "import asyncio as _a\nany(not t.done() for t in _a.all_tasks(_a.get_event_loop()))",
    );
  } catch (err) {
    log(`could not list pending tasks: ${err}`);
    return false;
  }
}

function versions() {
  return {
    pyodide: pyodide.version,
    python: pyodide.runPython("import sys; sys.version.split()[0]"),
  };
}
