import java.util.ArrayList;
import java.util.List;
import org.junit.runner.Description;
import org.junit.runner.JUnitCore;
import org.junit.runner.Request;
import org.junit.runner.Result;
import org.junit.runner.manipulation.Filter;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;

/**
 * Runs JUnit 4 suites and prints one machine-readable line per test
 * ("@@ START|PASS|FAIL|SKIP Class.method" and, for failures, "@@ WHY <first line>"),
 * so scripts/external-suites can count outcomes without parsing JUnit's prose.
 *
 * Usage: SuiteRunner SUITE_CLASS [SUITE_CLASS...] [-- ONLY_CLASS_SIMPLE_NAME...]
 */
public final class SuiteRunner {
    public static void main(String[] args) throws Exception {
        List<Class<?>> suites = new ArrayList<>();
        List<String> only = new ArrayList<>();
        boolean filters = false;
        for (String arg : args) {
            if (arg.equals("--")) {
                filters = true;
            } else if (filters) {
                only.add(arg);
            } else {
                suites.add(Class.forName(arg));
            }
        }
        JUnitCore core = new JUnitCore();
        core.addListener(new Printer());
        int failed = 0;
        for (Class<?> suite : suites) {
            Request request = Request.aClass(suite);
            if (!only.isEmpty()) {
                OnlyClasses filter = new OnlyClasses(only);
                if (!filter.shouldRun(request.getRunner().getDescription())) {
                    continue;  // nothing asked for is in this suite
                }
                request = request.filterWith(filter);
            }
            System.out.println("@@ SUITE " + suite.getName());
            Result result = core.run(request);
            failed += result.getFailureCount();
        }
        System.exit(failed == 0 ? 0 : 1);
    }

    private static String name(Description d) {
        String cls = d.getClassName() == null ? "?" : d.getClassName();
        return cls.substring(cls.lastIndexOf('.') + 1) + "." + d.getMethodName();
    }

    /** The exception and its causes (the client wraps channel closes in a bare IOException). */
    private static String why(Throwable error) {
        StringBuilder out = new StringBuilder();
        for (int depth = 0; error != null && depth < 3; depth++, error = error.getCause()) {
            if (out.length() > 0) {
                out.append(" <- ");
            }
            out.append(error.getClass().getSimpleName());
            if (error.getMessage() != null) {
                out.append(": ").append(error.getMessage().split("\n", 2)[0]);
            }
        }
        return out.toString();
    }

    private static final class Printer extends RunListener {
        private final java.util.Set<Description> done = new java.util.HashSet<>();

        @Override
        public void testStarted(Description description) {
            System.out.println("@@ START " + name(description));
            System.out.flush();
        }

        @Override
        public void testFailure(Failure failure) {
            done.add(failure.getDescription());
            System.out.println("@@ FAIL " + name(failure.getDescription()));
            System.out.println("@@ WHY " + why(failure.getException()));
            System.out.flush();
        }

        @Override
        public void testAssumptionFailure(Failure failure) {
            done.add(failure.getDescription());
            System.out.println("@@ SKIP " + name(failure.getDescription()));
        }

        @Override
        public void testIgnored(Description description) {
            System.out.println("@@ SKIP " + name(description));
        }

        @Override
        public void testFinished(Description description) {
            if (!done.remove(description)) {
                System.out.println("@@ PASS " + name(description));
            }
            System.out.flush();
        }
    }

    private static final class OnlyClasses extends Filter {
        private final List<String> names;

        OnlyClasses(List<String> names) {
            this.names = names;
        }

        @Override
        public boolean shouldRun(Description d) {
            if (d.isTest()) {
                String cls = d.getClassName();
                return cls != null && names.contains(cls.substring(cls.lastIndexOf('.') + 1));
            }
            for (Description child : d.getChildren()) {
                if (shouldRun(child)) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public String describe() {
            return "classes " + names;
        }
    }
}
