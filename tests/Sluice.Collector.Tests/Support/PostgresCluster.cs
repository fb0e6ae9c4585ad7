using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sluice.Collector.Tests.Support;

/// <summary>A throwaway PostgreSQL cluster from Debian's binaries (initdb + pg_ctl) in a temp dir on a free port.</summary>
/// <remarks>
/// initdb refuses to run as root, so as root the cluster belongs to the 'postgres' user and the
/// binaries run through runuser. Missing binaries are an error naming the package, never a skip.
/// </remarks>
public sealed class PostgresCluster : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string? _runAs;
    private int _databases;

    private PostgresCluster(string bin, string dir, int port, string? runAs)
    {
        _bin = bin;
        DataDirectory = dir;
        Port = port;
        _runAs = runAs;
    }

    public string DataDirectory { get; }
    public int Port { get; }

    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=sluice;Database={database};Pooling=true;Maximum Pool Size=32";

    public static async Task<PostgresCluster> StartAsync()
    {
        string bin = FindBinaries();
        string? runAs = Environment.UserName == "root" ? "postgres" : null;
        string dir = Path.Combine(Path.GetTempPath(), "sluice-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        if (runAs is not null)
        {
            await Run("chown", ["-R", runAs + ":", dir], null);
        }
        var cluster = new PostgresCluster(bin, dir, FreePort(), runAs);
        string data = Path.Combine(dir, "data");
        await cluster.Pg("initdb", ["-D", data, "-U", "sluice", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        await cluster.Pg("pg_ctl",
        [
            "-D", data, "-l", Path.Combine(dir, "server.log"), "-w", "-t", "60", "start",
            "-o", $"-p {cluster.Port} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB",
        ]);
        return cluster;
    }

    /// <summary>A new empty database, so each test starts from nothing.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        string name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid().ToString("N")[..8]}";
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Pg("pg_ctl", ["-D", Path.Combine(DataDirectory, "data"), "-m", "immediate", "-w", "stop"]);
        }
        finally
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
    }

    private static string FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        var candidates = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb")) && File.Exists(Path.Combine(b, "pg_ctl")))
                .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out int v) ? v : 0)
                .ToList()
            : [];
        return candidates.FirstOrDefault() ?? throw new InvalidOperationException(
            $"PostgreSQL binaries not found: no {root}/*/bin/initdb and pg_ctl. Install Debian's 'postgresql' package (apt-get install -y postgresql).");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Task Pg(string tool, string[] args) => Run(Path.Combine(_bin, tool), args, _runAs);

    private static async Task Run(string file, string[] args, string? runAs)
    {
        var psi = new ProcessStartInfo(runAs is null ? file : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        if (runAs is not null)
        {
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(runAs);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(file);
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} exited {p.ExitCode}: {await stderr}{await stdout}");
        }
    }
}
