// Run pytest (with the pytest-memray plugin) inside Pyodide, i.e. CPython compiled to
// WebAssembly, under Node.js. Everything is loaded from local files: the Pyodide runtime
// from node_modules, and pure-Python wheels from folders given on the command line.
//
// Usage (normally through run.sh, which prepares the wheels):
//   node run_pytest.mjs --wheels DIR [--wheels DIR ...] --repo HOST_REPO_ROOT
//                       [--cwd HOST_DIR] [--demo] [-- PYTEST_ARGS...]
//
// The host repository is mounted at /repo inside the WebAssembly file system; pytest runs
// in-process with the working directory /repo (or the matching sub-folder of --cwd).
// Exit status: pytest's exit code; with --demo, 0 if every demo step passed, 1 otherwise.
// Status 100 means the runner itself failed (Pyodide could not load, a JS-level crash, ...).

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { loadPyodide, version as pyodideVersion } from "pyodide";

const MOUNT_POINT = "/repo";
const RUNNER_ERROR = 100;

// ---------------------------------------------------------------------------------------
// command line

function usage(message) {
  if (message) process.stderr.write(`run_pytest.mjs: ${message}\n`);
  process.stderr.write(
    "usage: node run_pytest.mjs --wheels DIR [--wheels DIR ...] --repo DIR [--cwd DIR] " +
      "[--demo] [-- PYTEST_ARGS...]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { wheelDirs: [], repo: null, cwd: null, demo: false, pytestArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--") {
      opts.pytestArgs = argv.slice(i + 1);
      break;
    } else if (arg === "--wheels") opts.wheelDirs.push(path.resolve(value()));
    else if (arg === "--repo") opts.repo = path.resolve(value());
    else if (arg === "--cwd") opts.cwd = path.resolve(value());
    else if (arg === "--demo") opts.demo = true;
    else if (arg === "-h" || arg === "--help") usage();
    else usage(`unknown option ${arg} (pytest arguments go after --)`);
  }
  if (!opts.repo) usage("--repo is required");
  return opts;
}

// ---------------------------------------------------------------------------------------
// no network at run time: every Pyodide asset is a local file, so any HTTP request is a bug

function forbidNetwork() {
  const refuse = (what) => {
    throw new Error(`run_pytest.mjs: network access is disabled (${what})`);
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (resource, init) => {
    const url = String(resource?.url ?? resource);
    if (/^(https?|wss?):/i.test(url)) refuse(`fetch ${url}`);
    return realFetch(resource, init);
  };
}

// ---------------------------------------------------------------------------------------
// output: Python's stdout/stderr bytes go straight to ours (so progress dots appear live),
// and optionally into a capture buffer (for the demo checks)

class Output {
  constructor() {
    this.captured = null;
    this.decoder = null;
  }
  startCapture() {
    this.captured = [];
    this.decoder = new TextDecoder();
  }
  stopCapture() {
    const text = this.captured.join("") + this.decoder.decode();
    this.captured = null;
    this.decoder = null;
    return text;
  }
  writer(fd) {
    return {
      isatty: false,
      write: (bytes) => {
        let off = 0;
        while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
        if (this.captured) this.captured.push(this.decoder.decode(bytes, { stream: true }));
        return bytes.length;
      },
    };
  }
}

// ---------------------------------------------------------------------------------------
// one Python interpreter, prepared to run pytest

const require = createRequire(import.meta.url);
const indexURL = path.dirname(require.resolve("pyodide/package.json")) + path.sep;

function listWheels(wheelDirs) {
  const wheels = [];
  for (const dir of wheelDirs) {
    if (!fs.existsSync(dir)) throw new Error(`wheel folder ${dir} does not exist`);
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.endsWith(".whl")) wheels.push(path.join(dir, name));
    }
  }
  return wheels;
}

function pythonEnv() {
  const env = { HOME: "/home/pyodide", PYTHONDONTWRITEBYTECODE: "1" };
  // pass through what changes pytest's look, never the host's paths
  for (const [key, val] of Object.entries(process.env)) {
    if (/^(PYTEST_ADDOPTS|PY_COLORS|NO_COLOR|FORCE_COLOR|COLUMNS|LINES|CI|TERM)$/.test(key)) {
      env[key] = val;
    }
  }
  return env;
}

async function newPython(opts, output, wheels) {
  const py = await loadPyodide({
    indexURL,
    env: pythonEnv(),
    stdin: () => null, // EOF: nothing reads from the terminal inside the sandbox
  });
  py.setStdout(output.writer(1));
  py.setStderr(output.writer(2));

  const sitePackages = py.runPython("import site; site.getsitepackages()[0]");
  for (const wheel of wheels) {
    py.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "wheel", {
      extractDir: sitePackages,
    });
  }

  py.FS.mkdirTree(MOUNT_POINT);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: opts.repo }, MOUNT_POINT);

  let cwd = MOUNT_POINT;
  if (opts.cwd) {
    const rel = path.relative(opts.repo, opts.cwd);
    if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) {
      cwd = path.posix.join(MOUNT_POINT, ...rel.split(path.sep));
    }
  }
  py.runPython(`
import importlib, os, sys
sys.dont_write_bytecode = True  # keep the host checkout free of wasm .pyc files
importlib.invalidate_caches()
os.chdir(${JSON.stringify(cwd)})
`);
  return py;
}

// Host paths inside the repository given as pytest arguments are rewritten to /repo paths.
function translateArgs(args, repo) {
  return args.map((arg) => {
    const m = /^(--[^=]+=)?(.*)$/s.exec(arg);
    const [prefix, value] = [m[1] ?? "", m[2]];
    if (path.isAbsolute(value)) {
      const rel = path.relative(repo, value);
      if (rel === "") return prefix + MOUNT_POINT;
      if (!rel.startsWith("..") && !path.isAbsolute(rel)) {
        return prefix + path.posix.join(MOUNT_POINT, ...rel.split(path.sep));
      }
    }
    return arg;
  });
}

const RUN_PYTEST = `
def _run_pytest(args):
    import sys
    args = list(args)
    sys.argv = ["pytest", *args]
    try:
        import pytest
        code = pytest.main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = ${RUNNER_ERROR}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return int(code)
_run_pytest
`;

async function runPytest(opts, output, wheels, args) {
  const py = await newPython(opts, output, wheels);
  const run = py.runPython(RUN_PYTEST);
  try {
    return run(py.toPy(args));
  } finally {
    run.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// the fixed demo check

async function demo(opts, output, wheels) {
  const results = [];
  const step = async (name, body) => {
    process.stdout.write(`\n===== wasm demo: ${name} =====\n`);
    let problems;
    try {
      problems = await body();
    } catch (err) {
      problems = [`runner error: ${err?.stack ?? err}`];
    }
    const ok = problems.length === 0;
    results.push([name, ok]);
    process.stdout.write(`${ok ? "PASS" : "FAIL"}: ${name}\n`);
    for (const p of problems) process.stdout.write(`  - ${p}\n`);
  };

  const pytestStep = (name, args, wantCode, wantText) =>
    step(name, async () => {
      process.stdout.write(`pytest ${args.join(" ")}\n`);
      output.startCapture();
      let code;
      let text;
      try {
        code = await runPytest(opts, output, wheels, args);
      } finally {
        text = output.stopCapture();
      }
      const problems = [];
      if (code !== wantCode) problems.push(`exit code ${code}, expected ${wantCode}`);
      for (const want of wantText) {
        if (!text.includes(want)) problems.push(`output lacks ${JSON.stringify(want)}`);
      }
      return problems;
    });

  await step("(a) sys.platform is emscripten", async () => {
    const py = await newPython(opts, output, wheels);
    const [platform, version] = py
      .runPython("import sys; [sys.platform, sys.version.split()[0]]")
      .toJs();
    process.stdout.write(
      `sys.platform = ${platform}; Python ${version}; Pyodide ${pyodideVersion}; ` +
        `Node ${process.version}\n`,
    );
    return platform === "emscripten" ? [] : [`sys.platform is ${platform}`];
  });
  // Not part of the plugin's check: proves the harness (wheels, mount, pytest) works even
  // when the plugin does not load.
  await pytestStep(
    "(harness) demo without the plugin",
    ["demo", "-p", "no:memray", "-p", "no:cacheprovider"],
    0,
    ["6 passed"],
  );
  await pytestStep(
    "(b) demo --memray reports with the tracemalloc backend",
    ["demo", "--memray", "-p", "no:cacheprovider"],
    0,
    ["MEMRAY REPORT", "tracemalloc"],
  );
  await pytestStep(
    "(c) demo/over_limit.py --memray fails its limits",
    ["demo/over_limit.py", "--memray", "-p", "no:cacheprovider"],
    1,
    ["Test was limited to"],
  );

  process.stdout.write("\n===== wasm demo summary =====\n");
  for (const [name, ok] of results) process.stdout.write(`${ok ? "PASS" : "FAIL"}: ${name}\n`);
  const failed = results.filter(([, ok]) => !ok).length;
  process.stdout.write(failed ? `${failed} step(s) failed\n` : "all steps passed\n");
  return failed ? 1 : 0;
}

// ---------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  forbidNetwork();
  const wheels = listWheels(opts.wheelDirs);
  const output = new Output();
  if (opts.demo) return demo(opts, output, wheels);
  return runPytest(opts, output, wheels, translateArgs(opts.pytestArgs, opts.repo));
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`run_pytest.mjs: ${err?.stack ?? err}\n`);
    process.exit(RUNNER_ERROR);
  },
);
