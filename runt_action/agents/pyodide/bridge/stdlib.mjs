// Precompile Pyodide's standard library once (prepare.py runs this at set-up time).
//
// Pyodide's python_stdlib.zip holds sources only, so every stdlib import compiles its module
// in wasm: that is most of a cold boot (~2 s) and of the first cell's imports after a snapshot
// boot. This boots Pyodide (the same build that will run cells, so the bytecode matches) and
// writes a copy of the zip with an unchecked-hash .pyc beside every .py. The .py files stay,
// for tracebacks and inspect; an unreadable .pyc (e.g. another magic number) falls back to it.
//
//   deno run --allow-read=<pyodide dir> --allow-write=<out dir> stdlib.mjs <pyodide dir> <out>
console.log = console.info = console.debug = (...args) => console.error(...args);

const [pyodideDir, out] = Deno.args;
const dir = pyodideDir.replace(/\/?$/, "/");
const { loadPyodide } = await import(new URL("pyodide.mjs", `file://${dir}`).href);
const pyodide = await loadPyodide({ indexURL: dir });
pyodide.FS.writeFile("/tmp/stdlib-src.zip", Deno.readFileSync(`${dir}python_stdlib.zip`));
const count = pyodide.runPython(`
import importlib.util, sys, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

# Where Pyodide mounts the zip: co_filename must be what compiling from it would give.
archive = next(p for p in sys.path if p.endswith(".zip"))
count = 0
with zipfile.ZipFile("/tmp/stdlib-src.zip") as src, zipfile.ZipFile(
    "/tmp/stdlib-pyc.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6
) as dst:
    for info in src.infolist():
        data = src.read(info)
        dst.writestr(info, data)
        if not info.filename.endswith(".py"):
            continue
        try:
            code = compile(data, f"{archive}/{info.filename}", "exec", dont_inherit=True)
        except SyntaxError:
            continue  # e.g. test data; importing it fails either way
        pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
        entry = zipfile.ZipInfo(info.filename + "c", info.date_time)
        entry.compress_type = zipfile.ZIP_DEFLATED
        dst.writestr(entry, bytes(pyc))
        count += 1
count
`);
Deno.writeFileSync(out, pyodide.FS.readFile("/tmp/stdlib-pyc.zip"));
console.error(`[runt-pyodide] compiled ${count} stdlib modules into ${out}`);
