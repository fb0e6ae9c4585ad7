using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;

namespace Sluice.Agent.Status;

/// <summary>
/// Answers status queries from <c>sluice-agent status</c> on a local unix socket (mode 0600):
/// each connection gets one JSON object of the running agent's figures, then is closed.
/// </summary>
internal sealed partial class StatusServer(AgentOptions options, AgentMetrics metrics, ILogger<StatusServer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string path = options.Status.Socket;
        try
        {
            // A directory made here is owner only: the socket is made 0600 right after bind, and
            // nobody else can reach it before. One that exists is the operator's choice.
            Spool.PrivateFiles.CreateMissing(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.CannotListen(logger, path, e.Message);
            return;
        }
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(16);
        Log.Listening(logger, path);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                using var client = await listener.AcceptAsync(stoppingToken);
                var json = JsonSerializer.SerializeToUtf8Bytes(metrics.Snapshot(), StatusJson.Default.MetricsSnapshot);
                await client.SendAsync(json, SocketFlags.None, stoppingToken);
                await client.SendAsync("\n"u8.ToArray(), SocketFlags.None, stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Asks a running agent for its figures; null if none answers at <paramref name="path"/>.</summary>
    public static MetricsSnapshot? Query(string path, TimeSpan timeout)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
            socket.Connect(new UnixDomainSocketEndPoint(path));
            using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream);
            string? line = reader.ReadLine();
            return line is null ? null : JsonSerializer.Deserialize(line, StatusJson.Default.MetricsSnapshot);
        }
        catch (Exception e) when (e is SocketException or IOException or JsonException)
        {
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(80, LogLevel.Information, "Status socket: {Path}")]
        public static partial void Listening(ILogger logger, string path);

        [LoggerMessage(81, LogLevel.Warning, "Cannot serve status at {Path}: {Message}")]
        public static partial void CannotListen(ILogger logger, string path, string message);
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(MetricsSnapshot))]
internal sealed partial class StatusJson : System.Text.Json.Serialization.JsonSerializerContext;
