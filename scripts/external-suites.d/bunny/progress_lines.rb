# An RSpec formatter that prints one line per example as it finishes
# ("@@ PASS|FAIL|SKIP <file:line> <description>" and "@@ WHY <first line>" for failures), so
# scripts/external-suites can count outcomes even when a run is cut short by its time limit.
require "rspec/core/formatters/base_formatter"

class ProgressLines < RSpec::Core::Formatters::BaseFormatter
  RSpec::Core::Formatters.register self, :example_started, :example_passed, :example_failed,
                                   :example_pending

  def example_started(notification)
    emit("START", notification.example)
  end

  def example_passed(notification)
    emit("PASS", notification.example)
  end

  def example_pending(notification)
    emit("SKIP", notification.example)
  end

  def example_failed(notification)
    example = notification.example
    emit("FAIL", example)
    error = example.execution_result.exception
    first = error.message.to_s.strip.lines.first.to_s.strip
    output.puts "@@ WHY #{error.class}: #{first}"
    output.flush
  end

  private

  def emit(kind, example)
    output.puts "@@ #{kind} #{example.location} #{example.full_description}"
    output.flush
  end
end
