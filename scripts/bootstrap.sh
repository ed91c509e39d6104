# Sourced by scripts/amqpd and scripts/test: make .venv (once) and install the project into it
# (again whenever pyproject.toml changes). $1 is the pip extra to install ("" or "test").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
extra="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "amqpd needs Python 3.11 or newer; set PYTHON to one" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
stamp="$venv/.installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    echo "bootstrap: installing amqpd${extra:+ with its $extra packages} into .venv" >&2
    log="$venv/install.log"
    if ! { "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade pip &&
           "$venv/bin/python" -m pip install --disable-pip-version-check -e "$root${extra:+[$extra]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "bootstrap: pip install failed (log above, also in $log)" >&2
        exit 1
    fi
    touch "$stamp"
fi
# The test suite drives the management API with rabbitmqadmin 3.10.8 too. Debian ships it in the
# rabbitmq-server package; only the script is taken from it (apt-get download, no install: no
# Erlang, no RabbitMQ service started), into .venv/bin. It runs on the system's python3.
if [ "$extra" = "test" ] && [ ! -x "$venv/bin/rabbitmqadmin" ]; then
    if command -v rabbitmqadmin >/dev/null; then
        ln -s "$(command -v rabbitmqadmin)" "$venv/bin/rabbitmqadmin"
    elif command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
        debs="$(mktemp -d)"
        if ! (cd "$debs" && apt-get download -q rabbitmq-server >/dev/null 2>&1); then
            [ "$(id -u)" -eq 0 ] && apt-get update -q >/dev/null 2>&1
            (cd "$debs" && apt-get download -q rabbitmq-server >/dev/null 2>&1) || true
        fi
        for deb in "$debs"/rabbitmq-server_*.deb; do
            [ -f "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$debs" ./usr/bin/rabbitmqadmin &&
                install -m 755 "$debs/usr/bin/rabbitmqadmin" "$venv/bin/rabbitmqadmin"
        done
        rm -rf "$debs"
        [ -x "$venv/bin/rabbitmqadmin" ] || echo "bootstrap: could not fetch rabbitmqadmin (Debian's rabbitmq-server)" >&2
    fi
fi
# The web console's browser tests (tests/console/) drive Debian's chromium through Playwright, never
# a browser Playwright would download: as root on Debian it is installed here when missing. Elsewhere
# those tests skip, and under CI=true they fail without it.
if [ "$extra" = "test" ] && [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian's chromium for the console's browser tests" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium ||
           { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; } >"$venv/chromium.log" 2>&1; then
        echo "bootstrap: could not install chromium (log in $venv/chromium.log)" >&2
    fi
fi
