"""Writes docs/interop.md from a run of interop/run.

The file keeps one section per broker ("amqpd" and "reference", i.e. RabbitMQ), each with its
results as JSON in an HTML comment; a run replaces its own section, keeps the other, and
regenerates the summary, the comparison and the list of amqpd failures from both. Text between
<!-- notes:begin --> and <!-- notes:end --> is kept as written by hand.
"""
import json
import re

import runner

DATA = re.compile(r"<!-- interop-data (\w+) (.*?) -->", re.S)
NOTES = re.compile(r"<!-- notes:begin -->\n(.*?)<!-- notes:end -->", re.S)


def load(path):
    sections, notes = {}, ""
    if path.exists():
        text = path.read_text()
        for m in DATA.finditer(text):
            try:
                sections[m.group(1)] = json.loads(m.group(2).replace("-\\-", "--"))
            except ValueError:
                pass
        m = NOTES.search(text)
        if m:
            notes = m.group(1)
    return sections, notes


def cell_md(cell):
    return {"pass": "pass", "FAIL": "**FAIL**", "n/a": "n/a", "not installed": "not installed",
            "skipped": "skipped"}[cell]


def matrix_md(sec):
    scen = sec["scenarios"]
    lines = ["| client | " + " | ".join(scen) + " |", "| --- |" + " :-: |" * len(scen)]
    for c in sec["clients"]:
        cells = [cell_md(sec["results"].get(f"{c['id']}|{s}", ["-"])[0]) if f"{c['id']}|{s}" in sec["results"]
                 else "-" for s in scen]
        lines.append(f"| {c['id']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def counts(sec):
    out = {"pass": 0, "FAIL": 0, "n/a": 0, "not installed": 0, "skipped": 0}
    for cell, *_ in sec["results"].values():
        out[cell] = out.get(cell, 0) + 1
    return out


def section_md(key, sec):
    c = counts(sec)
    title = "amqpd" if key == "amqpd" else f"Reference: {sec['label']}"
    out = [f"## {title}", ""]
    out.append(f"- broker: {sec['label']} (announces `product: {sec['props'].get('product', '?')}`, "
               f"`version: {sec['props'].get('version', '?')}`), at `{sec['url']}`")
    out.append(f"- run: {sec['when']}, `{sec['command']}`, {sec['elapsed']:.0f} s")
    out.append(f"- persistence: {sec['restart_note']}")
    summary = f"{c['pass']} pass, {c['FAIL']} FAIL, {c['n/a']} n/a"
    for k in ("not installed", "skipped"):
        if c[k]:
            summary += f", {c[k]} {k}"
    out.append(f"- result: {summary}")
    out += ["", matrix_md(sec), ""]
    fails = [(k, v) for k, v in sec["results"].items() if v[0] == "FAIL"]
    if fails:
        out += ["Failures (what the client reported):", ""]
        for k, v in fails:
            client, scenario = k.split("|")
            out.append(f"- **{client} / {scenario}**: {md_escape(v[1])}")
        out.append("")
    blob = json.dumps(sec, sort_keys=True).replace("--", "-\\-")
    out += [f"<!-- interop-data {key} {blob} -->", ""]
    return "\n".join(out)


def md_escape(text):
    text = " ".join(str(text).split())
    return text.replace("|", "\\|")[:1200]


def clients_md(sections):
    amqpd, ref = sections.get("amqpd"), sections.get("reference")
    seen, rows = set(), []
    for sec in (amqpd, ref):
        for c in (sec or {}).get("clients", []):
            if c["id"] in seen:
                continue
            seen.add(c["id"])
            cols = []
            for s in (amqpd, ref):
                if not s or not any(x["id"] == c["id"] for x in s["clients"]):
                    cols.append("not run")
                    continue
                cells = [v[0] for k, v in s["results"].items() if k.startswith(c["id"] + "|")]
                if "not installed" in cells:
                    cols.append("not installed")
                elif "FAIL" in cells:
                    cols.append(f"{cells.count('pass')} pass, **{cells.count('FAIL')} FAIL**")
                else:
                    cols.append(f"works ({cells.count('pass')} pass, {cells.count('n/a')} n/a)")
            rows.append(f"| {c['id']} | {c['lang']} | {c['library']} | {c['version'] or '?'} | "
                        + " | ".join(cols) + " |")
    ref_label = ref["label"] if ref else "RabbitMQ"
    head = [f"| client | language | library | version | on amqpd | on {ref_label} |",
            "| --- | --- | --- | --- | --- | --- |"]
    return "\n".join(head + rows)


def differences_md(sections):
    amqpd, ref = sections.get("amqpd"), sections.get("reference")
    if not (amqpd and ref):
        return "Run both `interop/run` and `interop/run --url ...` (RabbitMQ) to compare."
    out = []
    for k, v in amqpd["results"].items():
        r = ref["results"].get(k)
        if v[0] == "FAIL" and r and r[0] == "pass":
            client, scenario = k.split("|")
            rabbit = f"RabbitMQ: pass{(' (' + md_escape(r[1]) + ')') if r[1] else ''}"
            out.append(f"- **{client} / {scenario}**: amqpd: {md_escape(v[1])} — {rabbit}")
    if not out:
        out.append("None: amqpd passes every scenario that RabbitMQ passes.")
    ref_fails = [k for k, v in ref["results"].items() if v[0] == "FAIL"]
    if ref_fails:
        out += ["", "Failing against RabbitMQ too (a wrong expectation in the scenario, to be fixed): "
                + ", ".join(k.replace("|", " / ") for k in ref_fails)]
    return "\n".join(out)


def write_report(path, *, target, label, props, clients, scenarios, results, when, elapsed,
                 restart_note, command, url):
    sections, notes = load(path)
    sections[target] = {
        "label": label,
        "props": {k: v for k, v in props.items() if isinstance(v, (str, int, float, bool))},
        "url": url,
        "when": when.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed": elapsed,
        "command": command,
        "restart_note": restart_note,
        "scenarios": scenarios,
        "clients": [{"id": c.id, "lang": c.lang, "library": c.library, "version": c.version} for c in clients],
        "results": {f"{cid}|{s}": [cell, detail] for (cid, s), (cell, detail, _secs) in results.items()},
    }
    ref = sections.get("reference")
    am = sections.get("amqpd")
    out = [
        "# Interop matrix",
        "",
        "<!-- Generated by interop/run --report docs/interop.md; edit only between notes:begin/end. -->",
        "",
        "Stock AMQP 0-9-1 client libraries, each installed as its users install it, run the same "
        "scenarios against amqpd and, as the reference, against RabbitMQ. A scenario that fails on "
        "RabbitMQ is a wrong expectation in the scenario, not a finding about amqpd.",
        "",
        f"- amqpd run: {am['when'] + ', ' + am['label'] if am else 'not yet'}",
        f"- reference run: {ref['when'] + ', ' + ref['label'] if ref else 'not yet'} — every scenario "
        "was also checked against that RabbitMQ",
        "",
        "## How to run",
        "",
        "```sh",
        "interop/install                       # runtimes and libraries (apt-get, npm ci, pip); idempotent",
        "interop/run                           # against amqpd, which it starts (and restarts for persist-check)",
        "interop/run --only python,node        # some languages (python node java go ruby php c) or client ids",
        "interop/run --report docs/interop.md  # and rewrite this file's amqpd section",
        "interop/run --url amqp://guest:guest@127.0.0.1:5672/ \\",
        "    --tls-url amqps://guest:guest@localhost:5671/ --tls-ca /etc/rabbitmq/tls/ca.pem \\",
        "    --restart-cmd \"rabbitmqctl stop_app && rabbitmqctl start_app\" \\",
        "    --report docs/interop.md          # a RabbitMQ: rewrites the reference section",
        "```",
        "",
        "amqpd is started with an amqps listener whose certificate a CA made for the run (trustme) "
        "signed; the `amqps` scenario runs each client's `roundtrip` over it. For RabbitMQ, give its "
        "TLS listener (`listeners.ssl.default = 5671` and `ssl_options.*` in rabbitmq.conf) and the CA "
        "that signed its certificate.",
        "",
        "A full run takes about 70 s on a 2-core machine (`--jobs N` client programs at a time, "
        "default 4), the first one a few seconds more to compile the Java, Go and C clients into "
        "`interop/.build`. `--report` records exactly the run it follows, so give it full runs. "
        "`interop/run` installs what is missing first (`--no-install` skips that), prints the matrix "
        "and exits non-zero on any FAIL. A language that cannot be installed is `not installed` "
        "outside CI and a FAIL in CI (`CI=true`). Each client program is called as "
        "`PROGRAM URL SCENARIO PREFIX` and prints one JSON line `{\"result\": \"pass\"|\"fail\"|\"n/a\", "
        "\"detail\": ...}` (exit 0, 1 or 3); every name it declares starts with PREFIX, which is "
        "unique per run and client, and it deletes what it declares.",
        "",
        "## Clients",
        "",
        clients_md(sections),
        "",
        "## amqpd failures where RabbitMQ passes",
        "",
        differences_md(sections),
        "",
        "## Notes",
        "",
        "<!-- notes:begin -->",
        notes.rstrip("\n") + ("\n" if notes.strip() else ""),
        "<!-- notes:end -->",
        "",
    ]
    for key in ("amqpd", "reference"):
        if key in sections:
            out.append(section_md(key, sections[key]))
    out += ["## Scenarios", ""]
    out += [f"- `{s}`: {runner.SCENARIO_TEXT[s]}" for s in runner.ALL_SCENARIOS]
    out += ["", "`n/a` means the library has no API for the scenario; the reason is the cell's detail, "
            "listed below.", ""]
    na = {}
    for key in ("amqpd", "reference"):
        for k, v in sections.get(key, {}).get("results", {}).items():
            if v[0] == "n/a":
                na.setdefault(k, v[1])
    partial = {}
    for key in ("amqpd", "reference"):
        for k, v in sections.get(key, {}).get("results", {}).items():
            if v[0] == "pass" and str(v[1]).startswith("partial:"):
                partial.setdefault(k, v[1])
    if partial:
        out += ["### Passing with partial coverage", "",
                "The library lacks part of the scenario; the rest was run.", ""]
        for k, why in sorted(partial.items()):
            client, scenario = k.split("|")
            out.append(f"- {client} / {scenario}: {md_escape(why.removeprefix('partial: '))}")
        out.append("")
    if na:
        out += ["### Not supported by the library", ""]
        for k, why in sorted(na.items()):
            client, scenario = k.split("|")
            out.append(f"- {client} / {scenario}: {md_escape(why.removeprefix('not supported by the library: '))}")
        out.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out).rstrip("\n") + "\n")
