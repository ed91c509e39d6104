package org.awaitility;

import java.util.concurrent.TimeUnit;

/** The one constructor of Awaitility's Duration that the Java client's Metrics test calls. */
public class Duration {
    private final long millis;

    public Duration(long amount, TimeUnit unit) {
        this.millis = unit.toMillis(amount);
    }

    public long toMillis() {
        return millis;
    }
}
