"""The interop matrix runner (started by interop/run; see docs/interop.md).

Runs every client program against one broker, scenario by scenario, and prints the matrix.
A client program is called as  PROGRAM URL SCENARIO PREFIX  and prints one JSON line
{"result": "pass"|"fail"|"n/a", "detail": "..."}; its exit code is 0, 1 or 3 to match.
"""
import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "python"))
from common import SCENARIOS  # noqa: E402  (the scenario list every client program implements)
BUILD = HERE / ".build"
VENV_PY = ROOT / ".venv" / "bin" / "python"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")

SCENARIO_TEXT = {
    "connect": "connect and authenticate (guest), open a channel, close cleanly",
    "bad-password": "a wrong password is refused (403 ACCESS_REFUSED) and the library reports it",
    "declare": "declare direct, fanout, topic and headers exchanges and a queue with arguments "
               "(x-message-ttl, x-max-length, x-max-priority, x-dead-letter-exchange); equivalent "
               "and passive redeclare; bind to each; route through the headers exchange; server-named queue",
    "roundtrip": "publish and consume a binary body with all 14 basic properties (user_id = the login) "
                 "and a headers table with string, integers, boolean, nested table and array",
    "topic": "topic routing with * and # (five keys, two bindings, exact delivery lists)",
    "fanout": "one publish to a fanout exchange reaches each of three queues once",
    "work-queue": "ten messages, two competing consumers with prefetch 1: the one that does not ack "
                  "holds exactly one, the other gets the nine others in order",
    "ack-nack-reject": "manual ack; nack with requeue comes back with redelivered=true; reject "
                       "without requeue drops the message",
    "basic-get": "basic.get with message_count, reject-requeue then get again (redelivered), get-empty",
    "confirms": "confirm.select, 50 publishes all acked by the broker",
    "mandatory-return": "mandatory publish to an exchange with no matching binding comes back as "
                        "basic.return 312 NO_ROUTE",
    "rpc": "request/reply over a server-named exclusive reply queue with reply_to and correlation_id",
    "tx": "tx.select; publish + rollback leaves nothing; publish + commit delivers; ack + commit",
    "consumer-cancel": "deleting a queue sends basic.cancel to its consumer; the channel stays open",
    "large-message": "a 5 MiB body published and consumed intact",
    "heartbeat": "negotiate a 1 s heartbeat, stay idle 3 s, the connection is still usable",
    "channel-error": "passive declare of a missing queue closes the channel with 404, not the connection",
    "persist-publish": "declare a durable exchange, durable queue and binding, a non-durable queue; "
                       "publish one persistent and one transient message (confirmed)",
    "persist-check": "after the broker restart: only the persistent message is there, the binding "
                     "still routes, the non-durable queue is gone; then delete everything",
    "stream": "a stream queue (x-queue-type stream): 10 confirmed publishes read from x-stream-offset "
              "'first' with prefetch (in order, increasing x-stream-offset headers), read again from the "
              "numeric offset of the 6th; a second stream with x-max-length-bytes 2000 and "
              "x-stream-max-segment-size-bytes 500 after 100 publishes of 100 bytes keeps the newest "
              "message and drops the oldest",
    "quorum": "a quorum queue with x-delivery-limit 2 and a dead-letter queue: a message rejected with "
              "requeue each time is delivered 3 times, then dead-lettered with x-death reason delivery_limit",
    "amqps": "the roundtrip scenario over TLS (amqps:// URL, server certificate verified against the "
             "test CA, which the runner names in SSL_CERT_FILE and NODE_EXTRA_CA_CERTS; the Java "
             "client trusts any certificate for an amqps URI)",
}
# runner-only scenarios: a client program's scenario run over another transport
TRANSPORT_SCENARIOS = {"amqps": "roundtrip"}
ALL_SCENARIOS = [*SCENARIOS, *TRANSPORT_SCENARIOS]

LANGS = ["python", "node", "java", "go", "ruby", "php", "c"]


class Client:
    def __init__(self, id, lang, library, argv, package=None, pypi=None):
        self.id, self.lang, self.library, self.argv = id, lang, library, argv
        self.package, self.pypi = package, pypi
        self.version = ""


def clients():
    py = str(VENV_PY)
    j = "/usr/share/java/"
    java_cp = ":".join([str(BUILD / "java"), j + "amqp-client.jar", j + "slf4j-api.jar", j + "slf4j-nop.jar"])
    pyc = lambda f: [py, str(HERE / "python" / f)]
    return [
        Client("pika-blocking", "python", "pika BlockingConnection", pyc("pika_blocking.py"), pypi="pika"),
        Client("pika-select", "python", "pika SelectConnection", pyc("pika_select.py"), pypi="pika"),
        Client("aio-pika", "python", "aio-pika", pyc("aio_pika_client.py"), pypi="aio-pika"),
        Client("aiormq", "python", "aiormq", pyc("aiormq_client.py"), pypi="aiormq"),
        Client("py-amqp", "python", "py-amqp", pyc("py_amqp_client.py"), pypi="amqp"),
        Client("kombu", "python", "kombu", pyc("kombu_client.py"), pypi="kombu"),
        Client("amqpstorm", "python", "AMQPStorm", pyc("amqpstorm_client.py"), pypi="amqpstorm"),
        Client("celery", "python", "Celery (worker + rpc:// backend)", pyc("celery_client.py"), pypi="celery"),
        Client("node-amqplib", "node", "amqplib (npm)", ["node", str(HERE / "node" / "client.js")]),
        Client("java", "java", "RabbitMQ Java client", ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                                                         "-cp", java_cp, "InteropClient"],
               package="librabbitmq-client-java"),
        Client("go-amqp091", "go", "amqp091-go", [str(BUILD / "go" / "interop-go")],
               package="golang-github-rabbitmq-amqp091-go-dev"),
        Client("ruby-bunny", "ruby", "Bunny", ["ruby", str(HERE / "ruby" / "client.rb")], package="ruby-bunny"),
        Client("php-amqplib", "php", "php-amqplib", ["php", str(HERE / "php" / "client.php")], package="php-amqplib"),
        Client("c-librabbitmq", "c", "rabbitmq-c (librabbitmq)", [str(BUILD / "c" / "interop-c")],
               package="librabbitmq-dev"),
        Client("c-amqp-tools", "c", "amqp-tools (amqp-publish, amqp-get, ...)",
               ["bash", str(HERE / "c" / "amqp_tools.sh")], package="amqp-tools"),
    ]


# ---------------------------------------------------------------------------------------------
# the broker under test

def tls_material(directory):
    """A test CA and a server certificate for localhost and 127.0.0.1 (trustme); returns the
    paths of the CA, certificate and key files."""
    import trustme
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    server.cert_chain_pems[0].write_to_path(str(paths[1]))
    server.private_key_pem.write_to_path(str(paths[2]))
    return paths


class Amqpd:
    """amqpd as a subprocess of ours, restartable on the same ports and data dir, with an amqps
    listener whose certificate the runner's test CA signed."""
    STARTUP = re.compile(r"Server startup complete; listening on amqp://([^:\s]+):(\d+)")
    TLS_STARTUP = re.compile(r"started TLS listener on amqps://([^:\s]+):(\d+)")

    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="amqpd-interop-")
        BUILD.mkdir(exist_ok=True)
        self.log = open(BUILD / "amqpd.log", "w")
        self.proc = None
        self.port = 0
        self.tls_port = 0
        self.url = None
        self.tls_url = None
        self.ca_file, self.cert_file, self.key_file = tls_material(Path(self.data_dir + "-tls"))

    def start(self):
        cmd = [str(VENV_PY), "-m", "amqpd", "--port", str(self.port), "--management-port", "0", "--prometheus-port", "0",
               "--data-dir", self.data_dir,
               "--tls-port", str(self.tls_port), "--tls-cert", str(self.cert_file), "--tls-key", str(self.key_file)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        found = threading.Event()

        def pump(stream):
            for line in stream:
                self.log.write(line)
                self.log.flush()
                tls = self.TLS_STARTUP.search(line)
                if tls:
                    self.tls_port = int(tls.group(2))
                m = self.STARTUP.search(line)
                if m and not found.is_set():
                    self.host, self.port = m.group(1), int(m.group(2))
                    found.set()
        threading.Thread(target=pump, args=(self.proc.stderr,), daemon=True).start()
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"amqpd did not start (see {BUILD / 'amqpd.log'})")
        self.url = f"amqp://guest:guest@{self.host}:{self.port}/"
        self.tls_url = f"amqps://guest:guest@localhost:{self.tls_port}/"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir + "-tls", ignore_errors=True)


def server_properties(url, timeout=60.0):
    """Connect with pika (retrying until timeout) and return the server's properties."""
    import pika
    deadline = time.monotonic() + timeout
    while True:
        try:
            params = pika.URLParameters(url)
            params.connection_attempts = 1
            params.socket_timeout = 5
            conn = pika.BlockingConnection(params)
            props = {k: (v.decode() if isinstance(v, bytes) else v)
                     for k, v in conn._impl.server_properties.items()}
            conn.close()
            return props
        except Exception as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"broker at {redact(url)} not reachable: {exc!r}")
            time.sleep(0.5)


def redact(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


# ---------------------------------------------------------------------------------------------
# install and build

def install(langs):
    """Run interop/install; returns {lang: None (ok) or reason}."""
    proc = subprocess.run([str(HERE / "install"), *langs], capture_output=True, text=True)
    status = {lang: f"interop/install said nothing about {lang}" for lang in langs}
    for line in proc.stdout.splitlines():
        m = re.match(r"interop-install: (\S+) (ok|missing: (.*))$", line)
        if m:
            status[m.group(1)] = None if m.group(2) == "ok" else m.group(3)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
    return status


def cached_build(name, sources, command):
    """Run command unless the stamp in .build/NAME records the same sources and command."""
    out = BUILD / name
    out.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256(" ".join(command).encode())
    for src in sources:
        h.update(Path(src).read_bytes())
    stamp = out / ".stamp"
    if stamp.exists() and stamp.read_text() == h.hexdigest():
        return None
    env = dict(os.environ)
    if name == "go":
        env.update(GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
                   GOCACHE=str(BUILD / "go" / "cache"), GOTOOLCHAIN="local")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)
    if proc.returncode != 0:
        return f"build failed: {' '.join(command)}: {(proc.stdout + proc.stderr)[-1500:]}"
    stamp.write_text(h.hexdigest())
    return None


def build(lang):
    """Compile what needs compiling; returns None or the error."""
    if lang == "java":
        src = HERE / "java" / "InteropClient.java"
        return cached_build("java", [src], ["javac", "-nowarn", "-cp", "/usr/share/java/amqp-client.jar",
                                            "-d", str(BUILD / "java"), str(src)])
    if lang == "go":
        src = HERE / "go" / "client.go"
        return cached_build("go", [src], ["go", "build", "-o", str(BUILD / "go" / "interop-go"), str(src)])
    if lang == "c":
        src = HERE / "c" / "client.c"
        return cached_build("c", [src], ["cc", "-O1", "-Wall", "-o", str(BUILD / "c" / "interop-c"),
                                         str(src), "-lrabbitmq"])
    return None


def library_versions(cls):
    pypi = [c.pypi for c in cls if c.pypi]
    versions = {}
    if pypi and VENV_PY.exists():
        code = ("import importlib.metadata as m, json, sys\n"
                "out = {}\n"
                "for n in sys.argv[1:]:\n"
                "    try: out[n] = m.version(n)\n"
                "    except Exception: pass\n"
                "print(json.dumps(out))")
        proc = subprocess.run([str(VENV_PY), "-c", code, *pypi], capture_output=True, text=True)
        if proc.returncode == 0:
            versions.update(json.loads(proc.stdout))
    for c in cls:
        if c.pypi:
            c.version = versions.get(c.pypi, "")
        elif c.package:
            proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", c.package], capture_output=True, text=True)
            c.version = proc.stdout.strip() + " (Debian)" if proc.returncode == 0 else ""
        elif c.id == "node-amqplib":
            pj = HERE / "node" / "node_modules" / "amqplib" / "package.json"
            c.version = json.loads(pj.read_text())["version"] + " (npm)" if pj.exists() else ""


# ---------------------------------------------------------------------------------------------
# running

def run_one(client, scenario, url, prefix, timeout, env=None):
    start = time.monotonic()
    try:
        proc = subprocess.run([*client.argv, url, scenario, prefix], capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=HERE / client.lang if (HERE / client.lang).is_dir() else HERE)
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"")
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        return "FAIL", f"timed out after {timeout}s; stderr: {err.strip()[-500:]}", timeout
    except OSError as exc:
        return "FAIL", f"could not start {client.argv[0]}: {exc}", 0
    elapsed = time.monotonic() - start
    result = None
    for line in reversed(proc.stdout.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "result" in obj:
            result = obj
            break
    want_rc = {"pass": 0, "fail": 1, "n/a": 3}
    if result is None or result.get("result") not in want_rc:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-600:]
        return "FAIL", f"no result line (exit {proc.returncode}); output: {tail}", elapsed
    cell = {"pass": "pass", "fail": "FAIL", "n/a": "n/a"}[result["result"]]
    detail = str(result.get("detail", ""))
    if proc.returncode != want_rc[result["result"]]:
        return "FAIL", f"result {result['result']} but exit code {proc.returncode}: {detail}", elapsed
    return cell, detail, elapsed


def main():
    ap = argparse.ArgumentParser(prog="interop/run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="broker to test; default: start amqpd from this checkout")
    ap.add_argument("--restart-cmd", help="shell command that restarts the broker at --url "
                    "(between persist-publish and persist-check)")
    ap.add_argument("--tls-url", help="the same broker's amqps:// URL for the amqps scenario (with --url; "
                    "without it that scenario is skipped)")
    ap.add_argument("--tls-ca", help="the CA file that verifies --tls-url's certificate")
    ap.add_argument("--only", help="comma-separated languages (%s) or client ids" % ",".join(LANGS))
    ap.add_argument("--scenarios", help="comma-separated scenarios (default: all)")
    ap.add_argument("--report", help="write/update this Markdown report (e.g. docs/interop.md)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("INTEROP_JOBS", "4")),
                    help="client programs run at once (default 4)")
    ap.add_argument("--timeout", type=int, default=90, help="seconds per client program (default 90)")
    ap.add_argument("--no-install", action="store_true", help="do not run interop/install first")
    args = ap.parse_args()

    all_clients = clients()
    selected = all_clients
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = wanted - set(LANGS) - {c.id for c in all_clients}
        if unknown:
            ap.error(f"unknown language/client: {', '.join(sorted(unknown))}")
        selected = [c for c in all_clients if c.lang in wanted or c.id in wanted]
    scenarios = list(ALL_SCENARIOS)
    if args.scenarios:
        scenarios = [s.strip() for s in args.scenarios.split(",")]
        bad = set(scenarios) - set(ALL_SCENARIOS)
        if bad:
            ap.error(f"unknown scenario: {', '.join(sorted(bad))}")
        if "persist-check" in scenarios and "persist-publish" not in scenarios:
            scenarios.insert(scenarios.index("persist-check"), "persist-publish")
    langs = [lang for lang in LANGS if any(c.lang == lang for c in selected)]
    started = time.monotonic()
    when = datetime.datetime.now(datetime.timezone.utc)

    # 1. runtimes and libraries
    if args.no_install:
        missing = {lang: None for lang in langs}
    else:
        missing = install(langs)
    for lang in langs:
        if missing.get(lang) is None:
            err = build(lang)
            if err:
                missing[lang] = err
    library_versions(selected)

    # 2. the broker
    amqpd = None
    if args.url:
        url, restart_cmd, tls_url, ca_file = args.url, args.restart_cmd, args.tls_url, args.tls_ca
    else:
        amqpd = Amqpd()
        amqpd.start()
        url, tls_url, ca_file = amqpd.url, amqpd.tls_url, amqpd.ca_file
    tls_env = dict(os.environ)
    if ca_file:  # OpenSSL (Python, Ruby, PHP, C), Go and Node read these
        tls_env.update(SSL_CERT_FILE=str(ca_file), NODE_EXTRA_CA_CERTS=str(ca_file))
    try:
        props = server_properties(url)
        if amqpd or "amqpd_version" in props:
            target = "amqpd"
            label = f"amqpd {props.get('amqpd_version', '?')}"
        else:
            target = "reference"
            label = f"{props.get('product', '?')} {props.get('version', '?')}"
        print(f"interop: {label} at {redact(url)}; {len(selected)} clients x {len(scenarios)} scenarios, "
              f"{args.jobs} at a time", flush=True)

        run_id = secrets.token_hex(3)
        results = {}     # (client id, scenario) -> (cell, detail, seconds)
        runnable = []
        no_restart = bool(args.url and not args.restart_cmd)
        for c in selected:
            why = missing.get(c.lang)
            for s in scenarios:
                if no_restart and s.startswith("persist-"):
                    results[(c.id, s)] = ("skipped", "no --restart-cmd to restart this broker", 0)
                elif s in TRANSPORT_SCENARIOS and not tls_url:
                    results[(c.id, s)] = ("skipped", "no --tls-url for this broker", 0)
                elif why is None:
                    runnable.append((c, s))
                elif IN_CI:
                    results[(c.id, s)] = ("FAIL", f"{c.lang} not installed (CI): {why}", 0)
                else:
                    results[(c.id, s)] = ("not installed", why, 0)

        def run_batch(batch):
            # long jobs first (each Celery scenario starts worker processes; heartbeat idles 3 s),
            # so that they overlap with the many short ones
            def cost(cs):
                return (cs[0].id != "celery", {"heartbeat": 0, "large-message": 1}.get(cs[1], 2))
            batch = sorted(batch, key=cost)
            with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
                futs = {pool.submit(run_one, c, TRANSPORT_SCENARIOS[s], tls_url, f"interop-{run_id}-{c.id}-tls",
                                    args.timeout, tls_env) if s in TRANSPORT_SCENARIOS
                        else pool.submit(run_one, c, s, url, f"interop-{run_id}-{c.id}", args.timeout): (c, s)
                        for c, s in batch}
                for fut in concurrent.futures.as_completed(futs):
                    c, s = futs[fut]
                    results[(c.id, s)] = fut.result()
                    cell, detail, secs = results[(c.id, s)]
                    if cell == "FAIL":
                        print(f"  FAIL {c.id} {s}: {detail}", flush=True)

        run_batch([cs for cs in runnable if cs[1] != "persist-check"])
        checks = [cs for cs in runnable if cs[1] == "persist-check"]
        restart_note = ""
        if checks:
            if amqpd:
                print("interop: restarting amqpd on the same data dir", flush=True)
                amqpd.restart()
                restart_note = "amqpd restarted (SIGTERM, then started again on the same --data-dir and port)"
            elif restart_cmd:
                print(f"interop: restarting the broker: {restart_cmd}", flush=True)
                rc = subprocess.run(restart_cmd, shell=True).returncode
                if rc != 0:
                    print(f"interop: restart command exited {rc}", flush=True)
                server_properties(url)
                restart_note = f"broker restarted with `{restart_cmd}`"
            run_batch(checks)
        if no_restart:
            restart_note = "not run: no --restart-cmd"
    finally:
        if amqpd:
            amqpd.close()

    elapsed = time.monotonic() - started
    print_matrix(selected, scenarios, results)
    counts = {k: sum(1 for v in results.values() if v[0] == k)
              for k in ("pass", "FAIL", "n/a", "not installed", "skipped")}
    summary = f"{counts['pass']} pass, {counts['FAIL']} FAIL, {counts['n/a']} n/a"
    for k in ("not installed", "skipped"):
        if counts[k]:
            summary += f", {counts[k]} {k}"
    print(f"\n{label}: {summary} in {elapsed:.0f} s")
    print(f"{counts['pass']} passed, {counts['FAIL']} failed")
    if args.report:
        from report import write_report
        write_report(Path(args.report) if Path(args.report).is_absolute() else Path.cwd() / args.report,
                     target=target, label=label, props=props, clients=selected, scenarios=scenarios,
                     results=results, when=when, elapsed=elapsed, restart_note=restart_note,
                     command=shlex.join(["interop/run"] + sys.argv[1:]), url=redact(url))
        print(f"interop: wrote {args.report}")
    return 1 if counts["FAIL"] else 0


SHORT = {
    "connect": "conn", "bad-password": "badpw", "declare": "decl", "roundtrip": "props",
    "topic": "topic", "fanout": "fanout", "work-queue": "workq", "ack-nack-reject": "acks",
    "basic-get": "get", "confirms": "confirm", "mandatory-return": "return", "rpc": "rpc", "tx": "tx",
    "consumer-cancel": "cancel", "large-message": "5MiB", "heartbeat": "hbeat",
    "channel-error": "cherr", "persist-publish": "p-pub", "persist-check": "p-chk", "stream": "stream",
    "quorum": "quorum", "amqps": "amqps",
}


def print_matrix(cls, scenarios, results):
    cellname = {"pass": "pass", "FAIL": "FAIL", "n/a": "n/a", "not installed": "n/inst", "skipped": "skip"}
    w0 = max(len(c.id) for c in cls) + 1
    widths = [max(len(SHORT[s]), 6) for s in scenarios]
    print()
    print("".ljust(w0) + " ".join(SHORT[s].ljust(w) for s, w in zip(scenarios, widths)))
    for c in cls:
        row = [cellname[results[(c.id, s)][0]].ljust(w) for s, w in zip(scenarios, widths)]
        print(c.id.ljust(w0) + " ".join(row))
    missing = {c.id: results[(c.id, s)][1] for c in cls for s in scenarios if results[(c.id, s)][0] == "not installed"}
    if missing:
        print("\nnot installed (counted neither pass nor FAIL; in CI this is a FAIL):")
        for cid, why in missing.items():
            print(f"  {cid}: {why}")
    fails = [(c, s) for c in cls for s in scenarios if results[(c.id, s)][0] == "FAIL"]
    if fails:
        print("\nfailures:")
        for c, s in fails:
            print(f"  {c.id} / {s}: {results[(c.id, s)][1]}")


if __name__ == "__main__":
    sys.exit(main())
