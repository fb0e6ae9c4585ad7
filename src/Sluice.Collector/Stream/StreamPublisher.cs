using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Polly;
using Polly.Retry;
using Sluice.Collector.Export;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Streaming;

/// <summary>
/// Publishes stored events to a NATS JetStream stream, one message per event, from a bounded buffer that ingest
/// fills without waiting on NATS (<see cref="OfferAsync"/>).
/// </summary>
/// <remarks>
/// <para>Workers (<see cref="StreamOptions.InFlight"/> of them, so that many publishes await their acknowledgement at
/// once) take events from the buffer and publish each with its message id until JetStream acknowledges it, retrying
/// with backoff (Polly) for as long as it takes: a lost connection, a leader election or a timed-out acknowledgement
/// are all retried, and the duplicate window makes a retry of a publish that had landed harmless. While nothing can be
/// published the buffer fills; then ingest waits at most <see cref="StreamOptions.MaxWait"/> per call for room, and
/// drops from the stream (never from the store) what still does not fit, counted.</para>
/// <para>Shutdown completes the buffer, waits up to <see cref="StreamOptions.FlushTimeout"/> for it to drain, then
/// stops the retries and counts what is left as dropped.</para>
/// </remarks>
internal sealed class StreamPublisher : IStreamOutlet, IAsyncDisposable
{
    private static readonly TimeSpan ContinuesInterval = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan StoppedAfter = TimeSpan.FromSeconds(10);

    private readonly StreamOptions _options;
    private readonly StreamCounters _counters;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<StreamItem> _buffer;
    private readonly NatsConnection _connection;
    private readonly NatsJSContext _js;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ResiliencePipeline _retry;
    private readonly LogThrottle _failureLog;
    private readonly string _format;
    private Task _run = Task.CompletedTask;
    private Task _monitor = Task.CompletedTask;
    private volatile bool _completed;
    private int _disposed;
    private int _classifyLogged;
    private int _ensuring;

    public StreamPublisher(StreamOptions options, NatsAuthOpts auth, StreamCounters counters, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options;
        _counters = counters;
        _logger = loggers.CreateLogger<StreamPublisher>();
        _time = time;
        _format = options.Format == StreamFormat.Ocsf ? "ocsf" : "replay";
        _buffer = Channel.CreateBounded<StreamItem>(new BoundedChannelOptions(options.BufferEvents)
        {
            FullMode = BoundedChannelFullMode.Wait,
        });
        _connection = new NatsConnection(new NatsOpts
        {
            // The client takes a comma-separated list, tries the servers in random order, and learns the
            // cluster's other servers from the one it reaches; it reconnects for ever.
            Url = string.Join(",", options.Servers.Select(s => $"{s.Scheme}://{s.Host}:{s.Port}")),
            Name = "sluice-collector",
            AuthOpts = auth,
            RetryOnInitialConnect = true,
            MaxReconnectRetry = -1,
            ReconnectWaitMin = TimeSpan.FromMilliseconds(250),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
            // A publish's acknowledgement: past this it is retried (same message id).
            RequestTimeout = TimeSpan.FromSeconds(5),
            LoggerFactory = loggers,
        });
        _js = new NatsJSContext(_connection);
        _failureLog = new LogThrottle(time, TimeSpan.FromSeconds(30), maxKeys: 64);
        _retry = new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => Retriable(e) && !_stopping.IsCancellationRequested),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromSeconds(5),
            OnRetry = args =>
            {
                _counters.PublishFailed();
                if (args.Outcome.Exception is NatsJSPublishNoResponseException && _connection.ConnectionState == NatsConnectionState.Open)
                {
                    // Connected, yet nothing answers for the subject: during an election that passes, but a stream
                    // deleted (or never made, if creating it failed) does not. Look again, in the background.
                    EnsureAgain();
                }
                string error = args.Outcome.Exception is { } e ? $"{e.GetType().Name}: {e.Message}" : "no acknowledgement";
                if (_failureLog.TryEnter(args.Outcome.Exception?.GetType().Name ?? "", out long suppressed))
                {
                    StreamLog.PublishFailed(_logger, error, args.RetryDelay, suppressed);
                }
                return default;
            },
        }).Build();
    }

    /// <summary>Starts connecting, making sure of the stream, and publishing; returns at once.</summary>
    public void Start()
    {
        _monitor = MonitorAsync(_stopping.Token);
        _run = RunAsync();
    }

    public async ValueTask OfferAsync(EventBatch batch, CancellationToken cancellationToken)
    {
        var events = batch.Events;
        var origin = new StreamOrigin(batch.AgentId, batch.Hostname, batch.Epoch, batch.BootId, batch.Sequence);
        var writer = _buffer.Writer;
        int i = 0;
        while (i < events.Count && TryEnqueue(writer, new StreamItem(origin, i, events[i])))
        {
            i++;
        }
        if (i == events.Count)
        {
            return;
        }
        // Full (or closed): wait for room, at most MaxWait for the whole call, and only while connected. Without a
        // connection nothing frees room, and every call of the fleet waiting the bound through an outage would slow
        // ingest to a crawl for nothing.
        long start = _time.GetTimestamp();
        try
        {
            while (i < events.Count && !_completed && _connection.ConnectionState == NatsConnectionState.Open)
            {
                if (TryEnqueue(writer, new StreamItem(origin, i, events[i])))
                {
                    i++;
                    continue;
                }
                var left = _options.MaxWait - _time.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                {
                    break;
                }
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(left);
                if (!await writer.WaitToWriteAsync(wait.Token))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        int dropped = events.Count - i;
        if (dropped > 0)
        {
            if (_completed)
            {
                for (int k = 0; k < dropped; k++)
                {
                    _counters.Enqueue();
                    _counters.DropShutdown();
                }
            }
            else
            {
                _counters.DropBufferFull(dropped);
            }
        }
    }

    private bool TryEnqueue(ChannelWriter<StreamItem> writer, StreamItem item)
    {
        // Counted first, so that a worker acknowledging it at once never takes the gauge below zero.
        _counters.Enqueue();
        if (writer.TryWrite(item))
        {
            return true;
        }
        _counters.Unenqueue();
        return false;
    }

    private async Task RunAsync()
    {
        await EnsureStreamAsync(_stopping.Token);
        var workers = new Task[_options.InFlight];
        for (int w = 0; w < workers.Length; w++)
        {
            workers[w] = Task.Run(WorkerAsync);
        }
        await Task.WhenAll(workers);
    }

    /// <summary>Runs <see cref="EnsureStreamAsync"/> once more unless it runs already.</summary>
    private void EnsureAgain()
    {
        if (Interlocked.CompareExchange(ref _ensuring, 1, 0) != 0)
        {
            return;
        }
        var stopping = _stopping.Token;
        _ = Task.Run(async () =>
        {
            try
            {
                await EnsureStreamAsync(stopping);
            }
            finally
            {
                Volatile.Write(ref _ensuring, 0);
            }
        });
    }

    /// <summary>Looks the stream up and creates it if missing; checks an existing one. Retries until it succeeds or the collector stops.</summary>
    private async Task EnsureStreamAsync(CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                try
                {
                    var stream = await _js.GetStreamAsync(_options.Name, cancellationToken: cancellationToken);
                    Check(stream.Info.Config);
                }
                catch (NatsJSApiException e) when (e.Error.Code == 404)
                {
                    await _js.CreateStreamAsync(new StreamConfig(_options.Name, [StreamSubjects.Filter])
                    {
                        Storage = StreamConfigStorage.File,
                        NumReplicas = _options.Replicas,
                        DuplicateWindow = StreamOptions.DuplicateWindow,
                    }, cancellationToken);
                    StreamLog.Created(_logger, _options.Name, StreamSubjects.Filter, _options.Replicas, StreamOptions.DuplicateWindow);
                }
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                StreamLog.EnsureFailed(_logger, e, _options.Name, delay);
                try
                {
                    await Task.Delay(delay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(15).Ticks));
            }
        }
    }

    private void Check(StreamConfig config)
    {
        var subjects = config.Subjects ?? [];
        if (!subjects.Any(s => StreamSubjects.Covers(s, StreamSubjects.Shape)))
        {
            StreamLog.SubjectsNotCovered(_logger, _options.Name, string.Join(", ", subjects), StreamSubjects.Shape);
        }
        if (config.DuplicateWindow < StreamOptions.ShortDuplicateWindow)
        {
            StreamLog.ShortWindow(_logger, _options.Name, config.DuplicateWindow, StreamOptions.ShortDuplicateWindow);
        }
    }

    private async Task WorkerAsync()
    {
        var payload = new MemoryStream();
        using var json = new Utf8JsonWriter(payload, ReplayPayload.WriterOptions);
        var reader = _buffer.Reader;
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            while (reader.TryRead(out var item))
            {
                await PublishAsync(item, payload, json);
            }
        }
    }

    private async Task PublishAsync(StreamItem item, MemoryStream payload, Utf8JsonWriter json)
    {
        if (_stopping.IsCancellationRequested)
        {
            _counters.DropShutdown();
            return;
        }
        var origin = item.Origin;
        var activity = StreamSubjects.Activity(item.Event, out var failure);
        if (failure is not null && Interlocked.Exchange(ref _classifyLogged, 1) == 0)
        {
            StreamLog.ClassifyFailed(_logger, failure);
        }
        byte[] data;
        try
        {
            data = Payload(item, activity, payload, json);
            if (_connection.ServerInfo is { MaxPayload: > 0 } info && data.Length > info.MaxPayload)
            {
                throw new InvalidOperationException($"{data.Length} bytes, more than the server's max_payload of {info.MaxPayload}");
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _counters.DropUnwritable();
            StreamLog.Unwritable(_logger, e, item.Event.Serial, origin.Sequence, origin.AgentId, _format);
            return;
        }
        string subject = StreamSubjects.Subject(origin.AgentId, activity?.Class ?? EventClass.Other);
        var opts = new NatsJSPubOpts
        {
            MsgId = StreamSubjects.MessageId(origin.AgentId, origin.Epoch, origin.BootId, origin.Sequence, item.Event.Serial, item.Ordinal),
        };
        try
        {
            var ack = await _retry.ExecuteAsync(async ct =>
            {
                // Headers per attempt: the client adds the message id to the ones it is given.
                var headers = new NatsHeaders
                {
                    ["Content-Type"] = "application/json",
                    ["Sluice-Format"] = _format,
                };
                var response = await _js.PublishAsync(subject, data, opts: opts, headers: headers, cancellationToken: ct);
                if (response.Error is { } error)
                {
                    throw new NatsJSApiException(error);
                }
                return response;
            }, _stopping.Token);
            _counters.Acknowledged(ack.Duplicate);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            _counters.DropShutdown();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not retriable: JetStream refused this message for good (e.g. too large for the stream).
            _counters.DropUnwritable();
            StreamLog.Unwritable(_logger, e, item.Event.Serial, origin.Sequence, origin.AgentId, _format);
        }
    }

    private byte[] Payload(StreamItem item, OcsfActivity? activity, MemoryStream payload, Utf8JsonWriter json)
    {
        payload.SetLength(0);
        var stored = new StoredEvent(item.Origin.AgentId, item.Origin.Hostname, item.Origin.Sequence, item.Event);
        if (_options.Format == StreamFormat.Ocsf)
        {
            json.Reset(payload);
            if (activity is null)
            {
                // The classifier failed: writing classifies again and fails the same way, and the event is counted unwritable.
                OcsfEvent.Write(json, stored);
            }
            else
            {
                OcsfEvent.Write(json, stored, activity);
            }
            json.Flush();
        }
        else
        {
            ReplayPayload.Append(payload, json, stored);
        }
        return payload.ToArray();
    }

    /// <summary>
    /// JetStream refusals that a retry cannot change (a 4xx API error such as a message over the stream's size limit)
    /// are not retried; anything else (timeouts, no responders during an election or with no stream yet, a 503,
    /// a lost connection) is.
    /// </summary>
    private static bool Retriable(Exception e) => e switch
    {
        NatsJSApiException api => api.Error.Code is not (>= 400 and < 500) || api.Error.Code is 408 or 429,
        _ => true,
    };

    /// <summary>Once a second: the connection gauge and its log lines, and the drop log (started, continues at most once a minute, stopped).</summary>
    private async Task MonitorAsync(CancellationToken cancellationToken)
    {
        bool connected = false;
        bool dropping = false;
        long seen = 0;
        long loggedCount = 0;
        long loggedAt = 0;
        long changedAt = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                long now = _time.GetTimestamp();
                bool open = _connection.ConnectionState == NatsConnectionState.Open;
                _counters.SetConnected(open);
                if (open && !connected)
                {
                    var info = _connection.ServerInfo;
                    StreamLog.Connected(_logger, info is null ? "?" : $"{info.Name} ({info.Host}:{info.Port})", _options.Name, _format);
                }
                else if (!open && connected)
                {
                    StreamLog.Disconnected(_logger, _connection.ConnectionState.ToString(), _options.BufferEvents);
                }
                connected = open;

                long dropped = _counters.Dropped;
                if (dropped > seen)
                {
                    if (!dropping)
                    {
                        StreamLog.DroppingStarted(_logger, _options.BufferEvents, _options.MaxWait, dropped);
                        dropping = true;
                        (loggedAt, loggedCount) = (now, dropped);
                    }
                    else if (_time.GetElapsedTime(loggedAt, now) >= ContinuesInterval)
                    {
                        StreamLog.DroppingContinues(_logger, dropped - loggedCount, _time.GetElapsedTime(loggedAt, now), dropped);
                        (loggedAt, loggedCount) = (now, dropped);
                    }
                    changedAt = now;
                }
                else if (dropping && _time.GetElapsedTime(changedAt, now) >= StoppedAfter)
                {
                    StreamLog.DroppingStopped(_logger, dropped);
                    dropping = false;
                }
                seen = dropped;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Flushes the buffer (bounded by <see cref="StreamOptions.FlushTimeout"/>), counts what is left as dropped, and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _completed = true;
        _buffer.Writer.TryComplete();
        try
        {
            await _run.WaitAsync(_options.FlushTimeout);
        }
        catch (TimeoutException)
        {
            StreamLog.FlushIncomplete(_logger, _counters.Buffered, _options.FlushTimeout);
        }
        await _stopping.CancelAsync();
        await _run;
        await _monitor;
        _counters.SetConnected(false);
        await _connection.DisposeAsync();
        _stopping.Dispose();
    }

    /// <summary>Where a batch's events came from; shared by its events in the buffer.</summary>
    private sealed record StreamOrigin(string AgentId, string Hostname, string Epoch, string BootId, ulong Sequence);

    private readonly record struct StreamItem(StreamOrigin Origin, int Ordinal, Event Event);
}
