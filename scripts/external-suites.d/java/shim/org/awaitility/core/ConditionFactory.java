package org.awaitility.core;

import java.util.concurrent.Callable;
import org.hamcrest.Matcher;
import org.hamcrest.StringDescription;

/** Polls a supplier every 100 ms until its value matches or the deadline passes, as Awaitility does. */
public final class ConditionFactory {
    private final long timeoutMillis;

    public ConditionFactory(long timeoutMillis) {
        this.timeoutMillis = timeoutMillis;
    }

    public <T> T until(Callable<T> supplier, Matcher<? super T> matcher) {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        T last;
        while (true) {
            try {
                last = supplier.call();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
            if (matcher.matches(last)) {
                return last;
            }
            if (System.currentTimeMillis() >= deadline) {
                throw new ConditionTimeoutException("Condition " + StringDescription.toString(matcher)
                        + " not met within " + timeoutMillis + " ms; last value: " + last);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RuntimeException(e);
            }
        }
    }

    /** Awaitility's timeout exception (same simple name, so failure reports read the same). */
    public static final class ConditionTimeoutException extends RuntimeException {
        public ConditionTimeoutException(String message) {
            super(message);
        }
    }
}
