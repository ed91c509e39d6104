"""What the aio-pika and aiormq clients share: aio-pika runs on aiormq, so both report a refused
login and a missing queue with aiormq's exceptions."""
import asyncio

from aiormq.exceptions import ChannelNotFoundEntity, ConnectionClosed, ProbableAuthenticationError

from common import Fail, check, wrong_password_url


async def until(cond, timeout=10.0, what="condition"):
    """Poll cond() every 10 ms until it holds; fail after timeout seconds."""
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise Fail(f"timed out waiting for {what}")


async def refused(url, connect):
    """The bad-password scenario: await connect(URL with a wrong password), which must fail."""
    try:
        conn = await connect(wrong_password_url(url))
    except (ProbableAuthenticationError, ConnectionClosed) as exc:
        check("403" in str(exc) or "ACCESS_REFUSED" in str(exc) or
              isinstance(exc, ProbableAuthenticationError), f"unexpected error {exc!r}")
        return f"refused: {type(exc).__name__}: {exc}"
    await conn.close()
    raise Fail("connection with a wrong password was accepted")


async def gone(passive_declare, what):
    """Await passive_declare(), which must fail with 404 NOT_FOUND; else fail with what."""
    try:
        await passive_declare()
    except ChannelNotFoundEntity:
        return
    raise Fail(what)
