// Interop client: amqp091-go (Debian's golang-github-rabbitmq-amqp091-go-dev), built offline with
// GO111MODULE=off GOPATH=/usr/share/gocode.  Usage: interop-go URL SCENARIO PREFIX
// Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	brokerURL, scenario, p string
)

type fail struct{ msg string }

func (f fail) Error() string { return f.msg }

func failf(format string, a ...interface{}) { panic(fail{fmt.Sprintf(format, a...)}) }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func check(cond bool, format string, a ...interface{}) {
	if !cond {
		failf(format, a...)
	}
}

// normalize makes values comparable: every integer width becomes int64, recursively.
func normalize(v interface{}) interface{} {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case amqp.Table:
		m := map[string]interface{}{}
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case map[string]interface{}:
		return normalize(amqp.Table(x))
	case []interface{}:
		l := make([]interface{}, len(x))
		for i, e := range x {
			l[i] = normalize(e)
		}
		return l
	}
	return v
}

func eq(what string, got, want interface{}) {
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		failf("%s: got %#v, want %#v", what, got, want)
	}
}

func until(cond func() bool, what string, d time.Duration) {
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			failf("timed out waiting for %s", what)
		}
	}
}

// collector gathers deliveries from a consumer channel in the background.
type collector struct {
	mu  sync.Mutex
	got []amqp.Delivery
}

func collect(ch <-chan amqp.Delivery, onEach func(d amqp.Delivery)) *collector {
	c := &collector{}
	go func() {
		for d := range ch {
			if onEach != nil {
				onEach(d)
			}
			c.mu.Lock()
			c.got = append(c.got, d)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) list() []amqp.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]amqp.Delivery(nil), c.got...)
}

func (c *collector) len() int { return len(c.list()) }

// ---- fixtures, the same in every language (see interop/python/common.py)
var (
	body256 = func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()
	largeSize = 5 * 1024 * 1024
	topicKeys = []string{"orders.new.eu", "orders.new.us", "orders", "invoices.new.eu", "orders.new.eu.extra"}
	queueArgs = func() amqp.Table {
		return amqp.Table{"x-message-ttl": int32(60000), "x-max-length": int32(100), "x-max-priority": int32(10),
			"x-dead-letter-exchange": p + ".fanout"}
	}
)

func headers() amqp.Table {
	return amqp.Table{
		"str": "text", "int": int32(42), "neg": int32(-7), "big": int64(10000000000), "bool": true,
		"nested": amqp.Table{"level": int32(2), "inner": amqp.Table{"deep": "yes"}},
		"list":   []interface{}{int32(1), "two", amqp.Table{"three": int32(3)}},
	}
}

func user() string {
	u, err := url.Parse(brokerURL)
	if err != nil || u.User == nil {
		return "guest"
	}
	return u.User.Username()
}

func connect(u string, heartbeat time.Duration) *amqp.Connection {
	cfg := amqp.Config{Heartbeat: 10 * time.Second, Locale: "en_US"}
	if heartbeat > 0 {
		cfg.Heartbeat = heartbeat
	}
	conn, err := amqp.DialConfig(u, cfg)
	must(err)
	return conn
}

func channel(conn *amqp.Connection) *amqp.Channel {
	ch, err := conn.Channel()
	must(err)
	return ch
}

func declareQueue(ch *amqp.Channel, name string, durable bool) {
	_, err := ch.QueueDeclare(name, durable, false, false, false, nil)
	must(err)
}

// exchange is an exchange for declared: a name and a type.
type exchange struct{ name, kind string }

// declared declares the exchanges and then the queues (plain: not durable, not exclusive, no
// arguments) and returns what deletes them again, for `defer declared(ch, queues, xs...)()`;
// if a declaration fails, what it already declared is deleted before the panic goes on.
func declared(ch *amqp.Channel, queues []string, exchanges ...exchange) (cleanup func()) {
	names := make([]string, len(exchanges))
	for i, x := range exchanges {
		names[i] = x.name
	}
	cleanup = deleting(ch, queues, names...)
	defer func() {
		if r := recover(); r != nil {
			cleanup()
			panic(r)
		}
	}()
	for _, x := range exchanges {
		must(ch.ExchangeDeclare(x.name, x.kind, false, false, false, false, nil))
	}
	for _, q := range queues {
		declareQueue(ch, q, false)
	}
	return cleanup
}

// deleting returns what deletes the queues and then the exchanges, for a deferred cleanup of
// what a scenario declares itself.
func deleting(ch *amqp.Channel, queues []string, exchanges ...string) func() {
	return func() {
		for _, q := range queues {
			ch.QueueDelete(q, false, false, false)
		}
		for _, x := range exchanges {
			ch.ExchangeDelete(x, false, false)
		}
	}
}

func publish(ch *amqp.Channel, exchange, key string, msg amqp.Publishing) {
	must(ch.Publish(exchange, key, false, false, msg))
}

func text(b string) amqp.Publishing { return amqp.Publishing{Body: []byte(b)} }

func drain(ch *amqp.Channel, q string) []string {
	out := []string{}
	for {
		d, ok, err := ch.Get(q, true)
		must(err)
		if !ok {
			return out
		}
		out = append(out, string(d.Body))
	}
}

func count(ch *amqp.Channel, q string) int {
	st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	must(err)
	return st.Messages
}

func consume(ch *amqp.Channel, q string, autoAck bool) <-chan amqp.Delivery {
	d, err := ch.Consume(q, "", autoAck, false, false, false, nil)
	must(err)
	return d
}

func amqpCode(err error) int {
	var e *amqp.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// ---- scenarios
func connectOK() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	channel(conn).Close()
	return fmt.Sprintf("server %v %v", conn.Properties["product"], conn.Properties["version"])
}

func badPassword() string {
	u, _ := url.Parse(brokerURL)
	u.User = url.UserPassword(user(), "wrong-password")
	conn, err := amqp.Dial(u.String())
	if err == nil {
		conn.Close()
		failf("connection with a wrong password was accepted")
	}
	check(err == amqp.ErrCredentials || amqpCode(err) == 403, "unexpected error %v", err)
	return "refused: " + err.Error()
}

func declare() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	kinds := []string{"direct", "fanout", "topic", "headers"}
	xs := make([]exchange, len(kinds))
	for i, k := range kinds {
		xs[i] = exchange{p + "." + k, k}
	}
	defer declared(ch, nil, xs...)()
	defer deleting(ch, []string{p + ".q"})()
	ok, err := ch.QueueDeclare(p+".q", false, false, false, false, queueArgs())
	must(err)
	eq("declare-ok", []interface{}{ok.Name, ok.Messages}, []interface{}{p + ".q", 0})
	_, err = ch.QueueDeclare(p+".q", false, false, false, false, queueArgs())
	must(err)
	count(ch, p+".q")
	for _, k := range []string{"direct", "fanout", "topic"} {
		must(ch.QueueBind(p+".q", "k", p+"."+k, false, nil))
	}
	must(ch.QueueBind(p+".q", "", p+".headers", false, amqp.Table{"x-match": "all", "h": "v"}))
	publish(ch, p+".headers", "", amqp.Publishing{Headers: amqp.Table{"h": "other"}, Body: []byte("other")})
	publish(ch, p+".headers", "", amqp.Publishing{Headers: amqp.Table{"h": "v"}, Body: []byte("match")})
	eq("routed by the headers exchange", drain(ch, p+".q"), []string{"match"})
	anon, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(err)
	check(strings.HasPrefix(anon.Name, "amq.gen-"), "server-named queue %q", anon.Name)
	return ""
}

func roundtrip() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	ts := time.Unix(1700000000, 0)
	want := amqp.Publishing{
		ContentType: "application/octet-stream", ContentEncoding: "identity", Headers: headers(),
		DeliveryMode: 2, Priority: 5, CorrelationId: "corr-1", ReplyTo: "reply-here", Expiration: "60000",
		MessageId: "msg-1", Timestamp: ts, Type: "interop.test", UserId: user(), AppId: "interop", Body: body256,
	}
	publish(ch, "", q, want)
	c := collect(consume(ch, q, false), nil)
	until(func() bool { return c.len() > 0 }, "delivery", 10*time.Second)
	d := c.list()[0]
	check(bytes.Equal(d.Body, body256), "body differs")
	eq("content_type", d.ContentType, want.ContentType)
	eq("content_encoding", d.ContentEncoding, want.ContentEncoding)
	eq("headers", d.Headers, want.Headers)
	eq("delivery_mode", d.DeliveryMode, want.DeliveryMode)
	eq("priority", d.Priority, want.Priority)
	eq("correlation_id", d.CorrelationId, want.CorrelationId)
	eq("reply_to", d.ReplyTo, want.ReplyTo)
	eq("expiration", d.Expiration, want.Expiration)
	eq("message_id", d.MessageId, want.MessageId)
	eq("timestamp", d.Timestamp.Unix(), ts.Unix())
	eq("type", d.Type, want.Type)
	eq("user_id", d.UserId, want.UserId)
	eq("app_id", d.AppId, want.AppId)
	eq("delivery", []interface{}{d.Exchange, d.RoutingKey, d.Redelivered}, []interface{}{"", q, false})
	must(d.Ack(false))
	return "partial: 13 of 14 properties (amqp091-go's Publishing has no cluster_id)"
}

func topic() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	defer declared(ch, []string{p + ".q1", p + ".q2"}, exchange{p + ".x", "topic"})()
	must(ch.QueueBind(p+".q1", "orders.*.eu", p+".x", false, nil))
	must(ch.QueueBind(p+".q2", "orders.#", p+".x", false, nil))
	for _, k := range topicKeys {
		publish(ch, p+".x", k, text(k))
	}
	eq("q1", drain(ch, p+".q1"), []string{"orders.new.eu"})
	eq("q2", drain(ch, p+".q2"), []string{"orders.new.eu", "orders.new.us", "orders", "orders.new.eu.extra"})
	return ""
}

func fanout() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	queues := []string{p + ".q0", p + ".q1", p + ".q2"}
	defer declared(ch, queues, exchange{p + ".x", "fanout"})()
	for i, q := range queues {
		must(ch.QueueBind(q, fmt.Sprintf("key%d", i), p+".x", false, nil))
	}
	publish(ch, p+".x", "anything", text("to all"))
	for _, q := range queues {
		eq(q, drain(ch, q), []string{"to all"})
	}
	return ""
}

func bodies(ds []amqp.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, string(d.Body))
	}
	return out
}

func workQueue() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	for i := 0; i < 10; i++ {
		publish(ch, "", q, text(fmt.Sprint(i)))
	}
	slowCh, fastCh := channel(conn), channel(conn)
	must(slowCh.Qos(1, 0, false))
	slow := collect(consume(slowCh, q, false), nil)
	until(func() bool { return slow.len() > 0 }, "first delivery to the slow consumer", 10*time.Second)
	must(fastCh.Qos(1, 0, false))
	fast := collect(consume(fastCh, q, false), func(d amqp.Delivery) { d.Ack(false) })
	until(func() bool { return fast.len() >= 9 }, "9 deliveries to the fast consumer", 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	eq("slow consumer (prefetch 1, never acks) got", bodies(slow.list()), []string{"0"})
	eq("fast consumer got", bodies(fast.list()), []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"})
	must(slow.list()[0].Ack(false))
	time.Sleep(100 * time.Millisecond)
	eq("left in queue", count(ch, q), 0)
	return ""
}

func ackNackReject() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	for _, b := range []string{"ack", "nack", "reject"} {
		publish(ch, "", q, text(b))
	}
	cch := channel(conn)
	must(cch.Qos(10, 0, false))
	c := collect(consume(cch, q, false), nil)
	until(func() bool { return c.len() >= 3 }, "3 deliveries", 10*time.Second)
	got := c.list()
	eq("first deliveries", bodies(got), []string{"ack", "nack", "reject"})
	must(got[0].Ack(false))
	must(got[1].Nack(false, true))
	must(got[2].Reject(false))
	until(func() bool { return c.len() >= 4 }, "redelivery after nack", 10*time.Second)
	d := c.list()[3]
	eq("redelivery", []interface{}{string(d.Body), d.Redelivered}, []interface{}{"nack", true})
	must(d.Ack(false))
	time.Sleep(200 * time.Millisecond)
	eq("deliveries", c.len(), 4)
	eq("left in queue", count(ch, q), 0)
	return ""
}

// ---- stream and quorum (see python/common.py)
const (
	streamCount, streamSaved, retentionCount, retentionSize, deliveryLimit = 10, 5, 100, 100, 2
)

func streamBody(i int) string { return fmt.Sprintf("s%d", i) }

func retentionBody(i int) string {
	b := fmt.Sprintf("r%03d", i)
	return b + strings.Repeat(".", retentionSize-len(b))
}

// publishConfirmed publishes persistent on a confirm-mode channel and waits for the ack.
func publishConfirmed(ch *amqp.Channel, acks <-chan amqp.Confirmation, q, body string) {
	publish(ch, "", q, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
	select {
	case c := <-acks:
		check(c.Ack, "%s nacked", body)
	case <-time.After(10 * time.Second):
		failf("timed out waiting for the confirm of %s", body)
	}
}

// readStream consumes the stream from x-stream-offset with prefetch, up to body last; the
// deliveries in order.
func readStream(conn *amqp.Connection, q string, offset interface{}, last string) []amqp.Delivery {
	ch := channel(conn)
	defer ch.Close()
	must(ch.Qos(retentionCount, 0, false))
	d, err := ch.Consume(q, "", false, false, false, false, amqp.Table{"x-stream-offset": offset})
	must(err)
	c := collect(d, func(d amqp.Delivery) { must(d.Ack(false)) })
	until(func() bool {
		got := c.list()
		return len(got) > 0 && string(got[len(got)-1].Body) == last
	}, fmt.Sprintf("%s from offset %v", last, offset), 10*time.Second)
	return c.list()
}

func stream() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q, r := p+".s", p+".retention"
	defer deleting(ch, []string{q, r})()
	_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "stream"})
	must(err)
	_, err = ch.QueueDeclare(r, true, false, false, false, amqp.Table{"x-queue-type": "stream",
		"x-max-length-bytes": int32(2000), "x-stream-max-segment-size-bytes": int32(500)})
	must(err)
	must(ch.Confirm(false))
	acks := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	want := []string{}
	for i := 0; i < streamCount; i++ {
		publishConfirmed(ch, acks, q, streamBody(i))
		want = append(want, streamBody(i))
	}
	for i := 0; i < retentionCount; i++ {
		publishConfirmed(ch, acks, r, retentionBody(i))
	}
	last := streamBody(streamCount - 1)
	first := readStream(conn, q, "first", last)
	eq("bodies read from first", bodies(first), want)
	offsets := []int64{}
	for _, d := range first {
		o, ok := d.Headers["x-stream-offset"].(int64)
		check(ok, "x-stream-offset header %#v", d.Headers["x-stream-offset"])
		offsets = append(offsets, o)
	}
	for i := 1; i < len(offsets); i++ {
		check(offsets[i] > offsets[i-1], "x-stream-offset not increasing: %v", offsets)
	}
	saved := readStream(conn, q, offsets[streamSaved], last)
	eq(fmt.Sprintf("bodies read from offset %d", offsets[streamSaved]), bodies(saved), want[streamSaved:])
	kept := bodies(readStream(conn, r, "first", retentionBody(retentionCount-1)))
	check(len(kept) < retentionCount && kept[0] != retentionBody(0),
		"retention dropped nothing: %d of %d messages still there", len(kept), retentionCount)
	return fmt.Sprintf("offsets %d..%d; retention kept %d of %d", offsets[0], offsets[len(offsets)-1],
		len(kept), retentionCount)
}

func quorum() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q, dlq := p+".qq", p+".dlq"
	defer declared(ch, []string{dlq})()
	defer deleting(ch, []string{q})()
	_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum",
		"x-delivery-limit": int32(deliveryLimit), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
	must(err)
	must(ch.Confirm(false))
	publishConfirmed(ch, ch.NotifyPublish(make(chan amqp.Confirmation, 1)), q, "poison")
	cch := channel(conn)
	must(cch.Qos(1, 0, false))
	c := collect(consume(cch, q, false), func(d amqp.Delivery) { must(d.Reject(true)) })
	var dead amqp.Delivery
	until(func() bool {
		d, ok, err := ch.Get(dlq, true)
		must(err)
		dead = d
		return ok
	}, "the message in the dead-letter queue", 10*time.Second)
	// the collector records a delivery after its reject: wait for the last one to be recorded
	until(func() bool { return c.len() >= deliveryLimit+1 }, "the last delivery recorded", 10*time.Second)
	eq("deliveries before dead-lettering", c.len(), deliveryLimit+1)
	eq("dead-lettered body", string(dead.Body), "poison")
	deaths, _ := dead.Headers["x-death"].([]interface{})
	check(len(deaths) > 0, "no x-death header: %#v", dead.Headers)
	death, _ := deaths[0].(amqp.Table)
	eq("x-death reason and queue", []interface{}{death["reason"], death["queue"]}, []interface{}{"delivery_limit", q})
	return fmt.Sprintf("%d deliveries, then dead-lettered (delivery_limit)", c.len())
}

func basicGet() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	publish(ch, "", q, text("one"))
	publish(ch, "", q, text("two"))
	get := func() amqp.Delivery {
		d, ok, err := ch.Get(q, false)
		must(err)
		check(ok, "get-empty on a queue with messages")
		return d
	}
	d := get()
	eq("first get", []interface{}{string(d.Body), d.MessageCount, d.Redelivered}, []interface{}{"one", 1, false})
	must(d.Ack(false))
	d = get()
	eq("second get", []interface{}{string(d.Body), d.MessageCount}, []interface{}{"two", 0})
	must(d.Reject(true))
	d = get()
	eq("get after reject", []interface{}{string(d.Body), d.Redelivered}, []interface{}{"two", true})
	must(d.Ack(false))
	_, ok, err := ch.Get(q, false)
	must(err)
	check(!ok, "get on the empty queue returned a message")
	return ""
}

func confirms() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	must(ch.Confirm(false))
	acks := ch.NotifyPublish(make(chan amqp.Confirmation, 50))
	for i := 0; i < 50; i++ {
		publish(ch, "", q, text(fmt.Sprint(i)))
	}
	for i := 1; i <= 50; i++ {
		select {
		case c := <-acks:
			check(c.Ack && c.DeliveryTag == uint64(i), "confirmation %d: %+v", i, c)
		case <-time.After(10 * time.Second):
			failf("timed out waiting for confirmation %d", i)
		}
	}
	eq("queued", count(ch, q), 50)
	return ""
}

func mandatoryReturn() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	defer declared(ch, nil, exchange{p + ".x", "direct"})()
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	must(ch.Publish(p+".x", "nowhere", true, false, text("bounce")))
	select {
	case r := <-returns:
		eq("return", []interface{}{r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, string(r.Body)},
			[]interface{}{uint16(312), "NO_ROUTE", p + ".x", "nowhere", "bounce"})
	case <-time.After(10 * time.Second):
		failf("timed out waiting for basic.return")
	}
	return ""
}

func rpc() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	server, client := channel(conn), channel(conn)
	q := p + ".requests"
	defer declared(server, []string{q})()
	collect(consume(server, q, false), func(d amqp.Delivery) {
		server.Publish("", d.ReplyTo, false, false, amqp.Publishing{CorrelationId: d.CorrelationId,
			Body: []byte(strings.ToUpper(string(d.Body)))})
		d.Ack(false)
	})
	cb, err := client.QueueDeclare("", false, false, true, false, nil)
	must(err)
	replies := collect(consume(client, cb.Name, true), nil)
	want := map[string]string{}
	for i, w := range []string{"alpha", "beta", "gamma"} {
		cid := fmt.Sprintf("%s-%d-%d", p, i, time.Now().UnixNano())
		want[cid] = strings.ToUpper(w)
		publish(client, "", q, amqp.Publishing{ReplyTo: cb.Name, CorrelationId: cid, Body: []byte(w)})
	}
	until(func() bool { return replies.len() >= 3 }, "3 replies", 10*time.Second)
	got := map[string]string{}
	for _, d := range replies.list() {
		got[d.CorrelationId] = string(d.Body)
	}
	eq("replies by correlation_id", got, want)
	return ""
}

func tx() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	must(ch.Tx())
	publish(ch, "", q, text("rolled back"))
	must(ch.TxRollback())
	eq("after rollback", count(ch, q), 0)
	publish(ch, "", q, text("committed"))
	eq("before commit", count(ch, q), 0)
	must(ch.TxCommit())
	eq("after commit", count(ch, q), 1)
	d, ok, err := ch.Get(q, false)
	must(err)
	check(ok, "get-empty after commit")
	eq("body", string(d.Body), "committed")
	must(d.Ack(false))
	must(ch.TxCommit())
	eq("after acked commit", count(ch, q), 0)
	return ""
}

func consumerCancel() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	declareQueue(ch, q, false)
	cancels := ch.NotifyCancel(make(chan string, 1))
	d, err := ch.Consume(q, "interop-consumer", false, false, false, false, nil)
	must(err)
	collect(d, nil)
	_, err = channel(conn).QueueDelete(q, false, false, false)
	must(err)
	select {
	case tag := <-cancels:
		eq("cancelled consumer tag", tag, "interop-consumer")
	case <-time.After(5 * time.Second):
		failf("timed out waiting for basic.cancel from the server")
	}
	_, err = ch.QueueDeclare("", false, false, true, false, nil)
	must(err) // the channel is still open
	return ""
}

func largeMessage() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	q := p + ".q"
	defer declared(ch, []string{q})()
	body := make([]byte, largeSize)
	for i := range body {
		body[i] = byte(i % 251)
	}
	publish(ch, "", q, amqp.Publishing{Body: body})
	c := collect(consume(ch, q, true), nil)
	until(func() bool { return c.len() > 0 }, "the 5 MiB delivery", 30*time.Second)
	got := c.list()[0].Body
	eq("size", len(got), largeSize)
	check(bytes.Equal(got, body), "body differs")
	return ""
}

func heartbeat() string {
	conn := connect(brokerURL, time.Second)
	defer conn.Close()
	eq("negotiated heartbeat", conn.Config.Heartbeat, time.Second)
	ch := channel(conn)
	time.Sleep(3 * time.Second) // the library's heartbeater goroutine keeps the connection alive
	check(!conn.IsClosed(), "connection closed while idle")
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(err)
	publish(ch, "", q.Name, text("still alive"))
	d, ok, err := ch.Get(q.Name, true)
	must(err)
	check(ok && string(d.Body) == "still alive", "after idle: got %q", d.Body)
	return "negotiated 1 s, idle 3 s, connection alive"
}

func channelError() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	_, err := ch.QueueDeclarePassive(p+".missing", false, false, false, false, nil)
	check(err != nil, "passive declare of a missing queue succeeded")
	eq("reply code", amqpCode(err), 404)
	detail := err.Error()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		failf("channel not closed")
	}
	check(!conn.IsClosed(), "connection closed")
	_, err = channel(conn).QueueDeclare("", false, false, true, false, nil)
	must(err)
	return detail
}

func persistPublish() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	ch := channel(conn)
	must(ch.ExchangeDeclare(p+".x", "direct", true, false, false, false, nil))
	declareQueue(ch, p+".q", true)
	must(ch.QueueBind(p+".q", "k", p+".x", false, nil))
	declareQueue(ch, p+".transient-q", false)
	must(ch.Confirm(false))
	acks := ch.NotifyPublish(make(chan amqp.Confirmation, 2))
	publish(ch, p+".x", "k", amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("persisted")})
	publish(ch, p+".x", "k", amqp.Publishing{DeliveryMode: amqp.Transient, Body: []byte("transient")})
	for i := 0; i < 2; i++ {
		select {
		case c := <-acks:
			check(c.Ack, "nacked")
		case <-time.After(10 * time.Second):
			failf("timed out waiting for confirms")
		}
	}
	return ""
}

func persistCheck() string {
	conn := connect(brokerURL, 0)
	defer conn.Close()
	// the cleanup has a channel of its own: a failed check may close the one it uses
	defer deleting(channel(conn), []string{p + ".q", p + ".transient-q"}, p+".x")()
	ch := channel(conn)
	eq("messages in the durable queue after restart", count(ch, p+".q"), 1)
	d, ok, err := ch.Get(p+".q", false)
	must(err)
	check(ok, "get-empty")
	eq("message", []interface{}{string(d.Body), d.DeliveryMode}, []interface{}{"persisted", uint8(2)})
	must(d.Ack(false))
	publish(ch, p+".x", "k", text("via binding"))
	_, ok, err = ch.Get(p+".q", true)
	must(err)
	check(ok, "the durable binding did not survive the restart")
	_, err = channel(conn).QueueDeclarePassive(p+".transient-q", false, false, false, false, nil)
	check(err != nil, "the non-durable queue survived the restart")
	eq("passive declare of the non-durable queue", amqpCode(err), 404)
	return ""
}

func emit(result, detail string) {
	line, _ := json.Marshal(map[string]string{"scenario": scenario, "result": result, "detail": detail})
	fmt.Println(string(line))
	os.Exit(map[string]int{"pass": 0, "fail": 1, "n/a": 3}[result])
}

func main() {
	brokerURL, scenario = os.Args[1], os.Args[2]
	name := scenario
	if strings.HasPrefix(scenario, "persist-") {
		name = "persist"
	}
	p = os.Args[3] + "." + name
	scenarios := map[string]func() string{
		"connect": connectOK, "bad-password": badPassword, "declare": declare, "roundtrip": roundtrip,
		"topic": topic, "fanout": fanout, "work-queue": workQueue, "ack-nack-reject": ackNackReject,
		"basic-get": basicGet, "confirms": confirms, "mandatory-return": mandatoryReturn, "rpc": rpc,
		"tx": tx, "consumer-cancel": consumerCancel, "large-message": largeMessage, "heartbeat": heartbeat,
		"channel-error": channelError, "persist-publish": persistPublish, "persist-check": persistCheck,
		"stream": stream, "quorum": quorum,
	}
	fn, ok := scenarios[scenario]
	if !ok {
		emit("fail", "scenario "+scenario+" not implemented by this client")
	}
	go func() {
		time.Sleep(60 * time.Second)
		emit("fail", "timed out after 60 s")
	}()
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(fail); ok {
				emit("fail", f.msg)
			}
			emit("fail", fmt.Sprintf("%T: %v", r, r))
		}
	}()
	emit("pass", fn())
}
