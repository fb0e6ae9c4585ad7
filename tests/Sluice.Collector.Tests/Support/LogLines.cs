using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Sluice.Collector.Tests.Support;

/// <summary>Keeps every log line a collector writes (category, event id, message), for tests that count lines.</summary>
public sealed class LogLines : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, int EventId, string Message)> _lines = new();

    public IReadOnlyList<(string Category, int EventId, string Message)> All => [.. _lines];

    /// <summary>Lines whose event id is one of <paramref name="eventIds"/>.</summary>
    public IReadOnlyList<string> With(params int[] eventIds) => [.. _lines.Where(l => eventIds.Contains(l.EventId)).Select(l => l.Message)];

    public void AddTo(ILoggingBuilder logging) => logging.AddProvider(this);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogLines lines, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines._lines.Enqueue((category, eventId.Id, formatter(state, exception)));
            }
        }
    }
}
