#!/usr/bin/env bash
# Interop client: the amqp-tools command-line programs (Debian's amqp-tools, built on rabbitmq-c):
# amqp-publish, amqp-get, amqp-consume, amqp-declare-queue, amqp-delete-queue.
# Usage: amqp_tools.sh URL SCENARIO PREFIX
# Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
set -uo pipefail
url="$1" scenario="$2" prefix="$3"
case "$scenario" in persist-*) P="$prefix.persist" ;; *) P="$prefix.$scenario" ;; esac
# rabbitmq-c reads "amqp://host/" as the empty vhost (as the AMQP URI spec says); the tools'
# users write the URL without the trailing slash to get "/".
[[ "$url" =~ ^amqps?://[^/]+/$ ]] && url="${url%/}"
work="$(mktemp -d)"
declared=()
keep=0

json() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1" 2>/dev/null || printf '"%s"' "${1//\"/\'}"; }
cleanup() {
    [ "$keep" = 1 ] || for q in "${declared[@]}"; do amqp-delete-queue --url "$url" -q "$q" >/dev/null 2>&1; done
    jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null
    rm -rf "$work"
}
emit() {  # emit RESULT DETAIL
    cleanup
    printf '{"scenario": %s, "result": %s, "detail": %s}\n' "$(json "$scenario")" "$(json "$1")" "$(json "$2")"
    case "$1" in pass) exit 0 ;; fail) exit 1 ;; *) exit 3 ;; esac
}
fail() { keep=0; emit fail "$*"; }
run() {   # run TOOL ARGS...: the tool's stderr goes to $work/err; fail if it fails
    "$@" 2>"$work/err" || fail "$1 exited $?: $(tr '\n' ' ' <"$work/err")"
}
declare_queue() {   # declare_queue NAME [-d]
    declared+=("$1")
    run amqp-declare-queue --url "$url" -q "$1" "${@:2}" >/dev/null
}
get() { amqp-get --url "$url" -q "$1" 2>"$work/err"; }   # prints the body; exit 2 when empty
drain() {   # the bodies of amqp-get until empty, joined with '|'
    local out="" body
    while body="$(get "$1")"; do out="${out:+$out|}$body"; done
    echo "$out"
}
# Consume from QUEUE bound to EXCHANGE with KEY, appending each body as a line to FILE.
# amqp-tools have no bind command; amqp-consume -q -e -r declares the queue (auto-delete) and
# binds it before it consumes. Probes sent straight to the queue tell when that is done.
consume_bound() {   # consume_bound QUEUE EXCHANGE KEY FILE
    : >"$4"
    amqp-consume --url "$url" -q "$1" -e "$2" -r "$3" -- sh -c "cat >> '$4'; echo >> '$4'" \
        >/dev/null 2>"$4.err" &
    consumers+=($!)
    local end=$((SECONDS + 10))
    until grep -q '^bind-probe$' "$4"; do
        [ $SECONDS -lt $end ] || fail "timed out waiting for amqp-consume to bind $1: $(cat "$4.err")"
        amqp-publish --url "$url" -r "$1" -b bind-probe 2>/dev/null
        sleep 0.1
    done
}
received() { grep -v '^bind-probe$' "$1" | paste -sd'|'; }   # received FILE
stop_consumers() { kill "${consumers[@]}" 2>/dev/null; wait "${consumers[@]}" 2>/dev/null; consumers=(); }
consumers=()
wait_for() {   # wait_for SECONDS WHAT CONDITION
    local end=$((SECONDS + $1))
    until eval "$3"; do
        [ $SECONDS -lt $end ] || fail "timed out waiting for $2"
        sleep 0.05
    done
}
expect() {   # expect WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}

case "$scenario" in
connect)
    declare_queue "$P.q"
    emit pass "amqp-declare-queue and amqp-delete-queue" ;;
bad-password)
    user="$(python3 -c 'import sys,urllib.parse as u; print(u.urlsplit(sys.argv[1]).username or "guest")' "$url")"
    wrong="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); h=p.netloc.rpartition("@")[2]; print(u.urlunsplit(p._replace(netloc=sys.argv[2]+":wrong-password@"+h)))' "$url" "$user")"
    if amqp-declare-queue --url "$wrong" -q "$P.q" >/dev/null 2>"$work/err"; then
        declared+=("$P.q"); fail "connection with a wrong password was accepted"
    fi
    grep -q "403" "$work/err" || fail "unexpected error: $(cat "$work/err")"
    emit pass "refused: $(tr '\n' ' ' <"$work/err")" ;;
topic)
    # amq.topic: the tools cannot declare exchanges, so every key carries the run's prefix
    consume_bound "$P.q1" amq.topic "$P.orders.*.eu" "$work/q1"
    consume_bound "$P.q2" amq.topic "$P.orders.#" "$work/q2"
    for key in orders.new.eu orders.new.us orders invoices.new.eu orders.new.eu.extra; do
        run amqp-publish --url "$url" -e amq.topic -r "$P.$key" -b "$key"
    done
    wait_for 10 "the routed messages" '[ "$(received "$work/q2" | tr "|" "\n" | wc -l)" -ge 4 ]'
    sleep 0.3
    stop_consumers
    expect q1 "$(received "$work/q1")" "orders.new.eu"
    expect q2 "$(received "$work/q2")" "orders.new.eu|orders.new.us|orders|orders.new.eu.extra"
    emit pass "through amq.topic, consumed by amqp-consume -e -r (amqp-tools cannot declare exchanges)" ;;
fanout)
    for i in 0 1 2; do consume_bound "$P.q$i" amq.fanout "key$i" "$work/q$i"; done
    run amqp-publish --url "$url" -e amq.fanout -r anything -b "$P to all"
    for i in 0 1 2; do wait_for 10 "the message in $P.q$i" "grep -qF '$P to all' '$work/q$i'"; done
    sleep 0.3
    stop_consumers
    for i in 0 1 2; do
        # amq.fanout is shared with whatever else uses the broker: keep only this run's messages
        expect "$P.q$i" "$(received "$work/q$i" | tr '|' '\n' | grep -F "$P" | paste -sd'|')" "$P to all"
    done
    emit pass "through amq.fanout, consumed by amqp-consume -e -r (amqp-tools cannot declare exchanges)" ;;
work-queue)
    declare_queue "$P.q"
    run amqp-publish --url "$url" -r "$P.q" -l < <(seq 0 9)   # one message a line, newline included
    # amqp-consume acks a message when its command exits: the slow consumer's command holds its
    # message (prefetch 1) until the fast consumer has had all the others
    amqp-consume --url "$url" -q "$P.q" -p 1 -c 1 -- sh -c "cat > '$work/slow'; while [ ! -e '$work/done' ]; do sleep 0.05; done" \
        >/dev/null 2>"$work/slow-err" &
    slow=$!
    wait_for 10 "the first delivery to the slow consumer" "[ -s '$work/slow' ]"
    amqp-consume --url "$url" -q "$P.q" -p 1 -c 9 -- sh -c "cat >> '$work/fast'" \
        >/dev/null 2>"$work/fast-err" &
    fast=$!
    wait_for 10 "9 deliveries to the fast consumer" "! kill -0 $fast 2>/dev/null"
    expect "slow consumer (prefetch 1, holds its message) got" "$(cat "$work/slow")" "0"
    expect "fast consumer got" "$(paste -sd' ' "$work/fast")" "1 2 3 4 5 6 7 8 9"
    touch "$work/done"
    wait "$slow" || fail "slow consumer: $(cat "$work/slow-err")"
    get "$P.q" >/dev/null && fail "messages left in the queue"
    emit pass "two amqp-consume -p 1 processes" ;;
basic-get)
    declare_queue "$P.q"
    run amqp-publish --url "$url" -r "$P.q" -b one
    run amqp-publish --url "$url" -r "$P.q" -b two
    expect "first get" "$(get "$P.q")" one
    expect "second get" "$(get "$P.q")" two
    get "$P.q" >/dev/null; rc=$?
    expect "exit code of amqp-get on the empty queue" "$rc" 2
    emit pass "partial: amqp-get shows neither message_count nor redelivered, and always acks" ;;
large-message)
    declare_queue "$P.q"
    python3 -c 'import sys; n=5*1024*1024; p=bytes(i % 251 for i in range(251)); sys.stdout.buffer.write((p*(n//251+1))[:n])' >"$work/body"
    run amqp-publish --url "$url" -r "$P.q" <"$work/body"
    get "$P.q" >"$work/got" || fail "amqp-get: $(cat "$work/err")"
    cmp -s "$work/body" "$work/got" || fail "body differs: got $(wc -c <"$work/got") bytes"
    emit pass "" ;;
heartbeat)
    declare_queue "$P.q"
    amqp-consume --url "$url" --heartbeat=1 -q "$P.q" -c 1 cat >"$work/got" 2>"$work/consume-err" &
    consumer=$!
    sleep 3.5       # idle, blocked in rabbitmq-c, which sends heartbeats while it waits
    kill -0 $consumer 2>/dev/null || fail "amqp-consume died while idle: $(cat "$work/consume-err")"
    run amqp-publish --url "$url" -r "$P.q" -b "still alive"
    wait_for 10 "the delivery after idling" "! kill -0 $consumer 2>/dev/null"
    wait $consumer || fail "amqp-consume: $(cat "$work/consume-err")"
    expect "after idle" "$(cat "$work/got")" "still alive"
    emit pass "amqp-consume --heartbeat=1 idle 3.5 s, then consumed" ;;
persist-publish)
    declare_queue "$P.q" -d
    declare_queue "$P.transient-q"
    run amqp-publish --url "$url" -r "$P.q" -p -b persisted
    run amqp-publish --url "$url" -r "$P.q" -b transient
    keep=1
    emit pass "partial: no binding (amqp-consume -e would redeclare the queue auto-delete) and no confirms (amqp-publish has none)" ;;
persist-check)
    declared+=("$P.q" "$P.transient-q")
    expect "first message after restart" "$(get "$P.q")" persisted
    get "$P.q" >/dev/null && fail "the transient message survived the restart"
    get "$P.transient-q" >/dev/null; rc=$?
    grep -q "404" "$work/err" || fail "the non-durable queue survived the restart (amqp-get exit $rc)"
    emit pass "partial: durable queue, persistent and transient message, non-durable queue (no binding)" ;;
declare)
    emit n/a "not supported by the library: amqp-tools cannot declare exchanges or pass queue arguments" ;;
roundtrip)
    emit n/a "not supported by the library: amqp-publish sets only content-type, content-encoding, reply-to, delivery mode and string headers, and amqp-get/amqp-consume print only the body" ;;
ack-nack-reject)
    emit n/a "not supported by the library: amqp-consume acks each message after its command; there is no nack or reject" ;;
confirms)
    emit n/a "not supported by the library: amqp-publish does not use publisher confirms" ;;
mandatory-return)
    emit n/a "not supported by the library: amqp-publish has no mandatory flag" ;;
rpc)
    emit n/a "not supported by the library: amqp-publish cannot set correlation_id" ;;
tx)
    emit n/a "not supported by the library: no transactions in amqp-tools" ;;
consumer-cancel)
    emit n/a "not supported by the library: amqp-consume does not announce consumer_cancel_notify" ;;
channel-error)
    emit n/a "not supported by the library: each tool opens one channel and exits on its error" ;;
stream|quorum)
    emit n/a "not supported by the library: amqp-declare-queue and amqp-consume take no queue or consumer arguments (x-queue-type, x-stream-offset)" ;;
*)
    fail "scenario $scenario not implemented by this client" ;;
esac
