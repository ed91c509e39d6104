package org.awaitility;

import org.awaitility.core.ConditionFactory;

/**
 * Stand-in for the part of Awaitility 3.0 the Java client's tests use (waitAtMost(...).until(...)):
 * Awaitility is not packaged by Debian and Maven Central is out of reach here.
 */
public final class Awaitility {
    private Awaitility() {
    }

    public static ConditionFactory waitAtMost(Duration timeout) {
        return new ConditionFactory(timeout.toMillis());
    }
}
