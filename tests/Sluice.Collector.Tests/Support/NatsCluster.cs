using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sluice.Testing;

namespace Sluice.Collector.Tests.Support;

/// <summary>
/// A throwaway JetStream cluster from Debian's nats-server: N nodes on free loopback ports, each with a store
/// directory of its own under one temp directory, routed to each other. A node can be killed (SIGKILL) and started
/// again on the same ports and store; the whole cluster is stopped and deleted at dispose.
/// </summary>
/// <remarks>A missing nats-server is an error naming the package, never a skip.</remarks>
public sealed class NatsCluster : IAsyncDisposable
{
    private readonly string _server;
    private readonly string _dir;
    private readonly Node[] _nodes;

    private NatsCluster(string server, string dir, Node[] nodes, string? user, string? password)
    {
        _server = server;
        _dir = dir;
        _nodes = nodes;
        User = user;
        Password = password;
    }

    /// <summary>Client URLs of every node, comma-separated, as <c>--stream</c> takes them.</summary>
    public string Urls => string.Join(",", _nodes.Select(n => n.Url));

    public string Url(int node) => _nodes[node].Url;

    public int Count => _nodes.Length;

    public string? User { get; }

    public string? Password { get; }

    /// <summary>Starts <paramref name="nodes"/> servers and waits until each accepts clients.</summary>
    /// <param name="user">With <paramref name="password"/>: clients must authenticate as this user.</param>
    /// <remarks>
    /// A port found free can be taken by another process before the server binds it (other tests start servers
    /// too): a node that exits at start makes the whole cluster start again on new ports, up to three times.
    /// </remarks>
    public static async Task<NatsCluster> StartAsync(int nodes = 3, string? user = null, string? password = null)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(nodes, user, password);
            }
            catch (NodeExitedException) when (attempt < 3)
            {
            }
        }
    }

    private static async Task<NatsCluster> TryStartAsync(int nodes, string? user, string? password)
    {
        string server = FindServer();
        string dir = Directory.CreateTempSubdirectory("sluice-nats-").FullName;
        var all = new Node[nodes];
        for (int i = 0; i < nodes; i++)
        {
            all[i] = new Node($"n{i + 1}", LoopbackPort.Free(), LoopbackPort.Free(), Path.Combine(dir, $"n{i + 1}"));
        }
        for (int i = 0; i < nodes; i++)
        {
            all[i].Config = Path.Combine(dir, $"n{i + 1}.conf");
            await File.WriteAllTextAsync(all[i].Config, Config(all[i], all, user, password));
        }
        var cluster = new NatsCluster(server, dir, all, user, password);
        try
        {
            foreach (var n in all)
            {
                cluster.Launch(n);
            }
            foreach (var n in all)
            {
                await WaitForPortAsync(n, TimeSpan.FromSeconds(60));
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>SIGKILLs node <paramref name="node"/> (no lame duck, no goodbye to its routes).</summary>
    public void Kill(int node)
    {
        var n = _nodes[node];
        if (n.Process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit();
        }
        n.Process?.Dispose();
        n.Process = null;
    }

    public void KillAll()
    {
        for (int i = 0; i < _nodes.Length; i++)
        {
            Kill(i);
        }
    }

    /// <summary>Starts node <paramref name="node"/> again, same ports and store, and waits until it accepts clients.</summary>
    public async Task RestartAsync(int node)
    {
        Launch(_nodes[node]);
        await WaitForPortAsync(_nodes[node], TimeSpan.FromSeconds(60));
    }

    public async Task RestartAllAsync()
    {
        foreach (var n in _nodes)
        {
            Launch(n);
        }
        foreach (var n in _nodes)
        {
            await WaitForPortAsync(n, TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>What node <paramref name="node"/> has written to its log so far (for a failing test's message).</summary>
    public string Log(int node)
    {
        string file = Path.Combine(_dir, $"n{node + 1}.log");
        return File.Exists(file) ? File.ReadAllText(file) : "";
    }

    private void Launch(Node n)
    {
        if (n.Process is { HasExited: false })
        {
            throw new InvalidOperationException($"nats node {n.Name} is running");
        }
        var psi = new ProcessStartInfo(_server)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(n.Config);
        psi.ArgumentList.Add("-l");
        psi.ArgumentList.Add(Path.Combine(_dir, $"{n.Name}.log"));
        var p = Process.Start(psi)!;
        // Nothing should come here (the log goes to the file); drain it so a full pipe never blocks the server.
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        n.Process = p;
    }

    private static string Config(Node n, Node[] all, string? user, string? password)
    {
        var text = new StringBuilder();
        text.AppendLine($"server_name: {n.Name}");
        text.AppendLine($"listen: 127.0.0.1:{n.Port}");
        text.AppendLine($"jetstream {{ store_dir: \"{n.Store}\", max_memory_store: 64MB, max_file_store: 1GB }}");
        text.AppendLine("cluster {");
        text.AppendLine("  name: sluice-test");
        text.AppendLine($"  listen: 127.0.0.1:{n.ClusterPort}");
        text.AppendLine($"  routes: [{string.Join(", ", all.Where(o => o != n).Select(o => $"nats://127.0.0.1:{o.ClusterPort}"))}]");
        text.AppendLine("}");
        if (user is not null)
        {
            text.AppendLine($"authorization {{ user: \"{user}\", password: \"{password}\" }}");
        }
        return text.ToString();
    }

    private static async Task WaitForPortAsync(Node n, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (n.Process is { HasExited: true } p)
            {
                string log = Path.Combine(Path.GetDirectoryName(n.Store)!, n.Name + ".log");
                throw new NodeExitedException($"nats-server {n.Name} exited with {p.ExitCode}:\n{(File.Exists(log) ? File.ReadAllText(log) : "(no log)")}");
            }
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync("127.0.0.1", n.Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    private static string FindServer()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/usr/bin"))
        {
            string candidate = Path.Combine(dir, "nats-server");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("nats-server not found. Install Debian's 'nats-server' package (apt-get install -y nats-server).");
    }

    public ValueTask DisposeAsync()
    {
        KillAll();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }

    private sealed class NodeExitedException(string message) : InvalidOperationException(message);

    private sealed class Node(string name, int port, int clusterPort, string store)
    {
        public string Name => name;
        public int Port => port;
        public int ClusterPort => clusterPort;
        public string Store => store;
        public string Url => $"nats://127.0.0.1:{port}";
        public string Config { get; set; } = "";
        public Process? Process { get; set; }
    }
}
