using Grpc.Net.Client;
using Sluice.Collector.Auth;
using Sluice.Collector.Dashboard;
using Sluice.Collector.Storage.Sqlite;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Support.CollectorHarness;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue case 7, collector side: token files open to group or others are refused; the SQLite store
/// is created private; the PostgreSQL password stays off the command line.
/// </summary>
public sealed class FileModesAndSecretsTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-secrets-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TokenFile(UnixFileMode mode, string? dir = null)
    {
        string path = Path.Combine(dir ?? _dir, "tokens");
        PrivateFile.Write(path, $"{AgentA} {TokenA}\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Theory]
    [InlineData(0b110_100_100, "0644", "read")]
    [InlineData(0b110_100_000, "0640", "read")]
    [InlineData(0b110_000_100, "0604", "read")]
    [InlineData(0b110_010_000, "0620", "write")]
    [InlineData(0b110_110_110, "0666", "read and write")]
    public void Load_TokenFileOpenToGroupOrOthers_RefusedNamingFileAndMode(int mode, string octal, string access)
    {
        string path = TokenFile((UnixFileMode)mode);

        var e = Assert.Throws<FormatException>(() => AgentTokens.Load(path));

        Assert.StartsWith($"token file {path} has mode {octal}: group or others may {access} it", e.Message);
        Assert.Contains($"chmod 0600 {path}", e.Message);
    }

    [Theory]
    [InlineData(0b110_000_000)]
    [InlineData(0b100_000_000)]
    public void Load_TokenFilePrivateToItsOwner_Loaded(int mode)
    {
        var tokens = AgentTokens.Load(TokenFile((UnixFileMode)mode));

        Assert.Equal(AgentA, tokens.FindAgent(TokenA));
    }

    [Fact]
    public void Load_DashboardTokenFileReadableByOthers_RefusedNamingFileAndMode()
    {
        string path = Path.Combine(_dir, "dashboard.token");
        PrivateFile.Write(path, "d4shb0ard-t0ken-0123456789abcdef\n");
        File.SetUnixFileMode(path, Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var e = Assert.Throws<FormatException>(() => DashboardAccess.Load(path, null));

        Assert.StartsWith($"--dashboard-token-file {path} has mode 0644", e.Message);
    }

    [Fact]
    public async Task Serve_TokenFileReadableByOthers_ExitsAtStartNamingFileAndMode()
    {
        string tokens = TokenFile(Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        using var collector = CollectorProcess.Start(["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(_dir, "events.db"), "--tokens", tokens]);

        Assert.Equal(1, await collector.ExitAsync());
        Assert.Contains($"sluice-collector serve: token file {tokens} has mode 0644", collector.Output);
        Assert.DoesNotContain("listening on", collector.Output);
    }

    /// <summary>
    /// systemd's LoadCredential= leaves the file 0400 root with an ACL that lets the service's user
    /// read it, and the group bits then show the ACL's mask (0440). There it is accepted; others'
    /// bits are still refused.
    /// </summary>
    [Theory]
    [InlineData(0b100_100_000, true)]
    [InlineData(0b100_100_100, false)]
    public async Task Serve_TokenFileInSystemdCredentialsDirectory_GroupBitsAccepted(int mode, bool accepted)
    {
        string credentials = Directory.CreateDirectory(Path.Combine(_dir, "credentials")).FullName;
        string tokens = TokenFile((UnixFileMode)mode, credentials);

        using var collector = CollectorProcess.Start(
            ["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(_dir, "events.db"), "--tokens", tokens],
            new Dictionary<string, string> { ["CREDENTIALS_DIRECTORY"] = credentials });

        if (accepted)
        {
            var address = await collector.ListeningAsync();
            using var channel = GrpcChannel.ForAddress(address);
            var ack = await new IngestClient(channel).SendAsync(TestEvents.Batch(AgentA, 1, 4), Bearer(TokenA));
            Assert.Equal(4u, ack.EventsStored);
        }
        else
        {
            Assert.Equal(1, await collector.ExitAsync());
            Assert.Contains($"token file {tokens} has mode 0444: group or others may read it", collector.Output);
        }
    }

    [Fact]
    public async Task SqliteStore_NewFileInNewDirectories_Created0600In0700AndWalAndShmFollow()
    {
        // The test process has the usual umask (022): SQLite alone would create 0644.
        string parent = Path.Combine(_dir, "var");
        string path = Path.Combine(parent, "lib", "events.db");
        await using (var store = new SqliteEventStore(path))
        {
            await store.InitializeAsync(CancellationToken.None);
            await store.StoreBatchAsync(TestEvents.Batch(AgentA, 1, 5), TestEvents.BaseUnixMs, CancellationToken.None);

            Assert.Equal(PrivateDir, File.GetUnixFileMode(parent));
            Assert.Equal(PrivateDir, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            {
                Assert.True(File.Exists(file), file);
                Assert.Equal(Private, File.GetUnixFileMode(file));
            }
        }
    }

    [Fact]
    public async Task SqliteStore_ExistingFile_KeepsTheModeItsOwnerGaveIt()
    {
        string path = Path.Combine(_dir, "events.db");
        PrivateFile.Write(path, "");
        var mode = Private | UnixFileMode.GroupRead;
        File.SetUnixFileMode(path, mode);

        await using (var store = new SqliteEventStore(path))
        {
            await store.InitializeAsync(CancellationToken.None);
        }

        Assert.Equal(mode, File.GetUnixFileMode(path));
        Assert.Equal(PrivateDir, File.GetUnixFileMode(_dir) & PrivateDir);
    }
}

/// <summary>The PostgreSQL password stays off the collector's command line (case 7), against the tests' cluster.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresPasswordTests(PostgresFixture pg) : IDisposable
{
    // The tests' cluster trusts local connections, so any password is accepted; what matters is where it is visible.
    private const string Password = "s3cret-never-on-argv";

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-pgpass-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Serve_StoreFromTheEnvironment_PasswordNotOnTheCommandLineAndBatchesStored()
    {
        string tokens = Path.Combine(_dir, "tokens");
        PrivateFile.Write(tokens, $"{AgentA} {TokenA}\n");
        string store = $"postgres:{await pg.Cluster.CreateDatabaseAsync()};Password={Password}";

        using var collector = CollectorProcess.Start(["serve", "--listen", "127.0.0.1:0", "--tokens", tokens],
            new Dictionary<string, string> { ["SLUICE_COLLECTOR_STORE"] = store });
        var address = await collector.ListeningAsync();
        using var channel = GrpcChannel.ForAddress(address);
        var ack = await new IngestClient(channel).SendAsync(TestEvents.Batch(AgentA, 1, 6), Bearer(TokenA));

        Assert.Equal(6u, ack.EventsStored);
        Assert.DoesNotContain(Password, collector.CommandLine);
        Assert.DoesNotContain(Password, collector.Output);
        Assert.DoesNotContain("warning", collector.Output);
        // What the environment holds only the process's user can read (/proc/PID/environ is 0400).
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode($"/proc/{collector.Pid}/environ"));
    }

    [Fact]
    public async Task Serve_PasswordInStoreOnTheCommandLine_Warns()
    {
        string tokens = Path.Combine(_dir, "tokens");
        PrivateFile.Write(tokens, $"{AgentA} {TokenA}\n");
        string store = $"postgres:{await pg.Cluster.CreateDatabaseAsync()};Password={Password}";

        using var collector = CollectorProcess.Start(["serve", "--listen", "127.0.0.1:0", "--tokens", tokens, "--store", store]);
        await collector.ListeningAsync();

        Assert.Contains("sluice-collector serve: warning: --store holds a password, which any local user can read from the command line", collector.Output);
        Assert.DoesNotContain(Password, collector.Output);
    }

    [Fact]
    public async Task Serve_NoStoreAnywhere_RefusedNamingBoth()
    {
        using var collector = CollectorProcess.Start(["serve", "--listen", "127.0.0.1:0", "--insecure-no-auth"],
            new Dictionary<string, string> { ["SLUICE_COLLECTOR_STORE"] = "" });

        Assert.Equal(2, await collector.ExitAsync());
        Assert.Contains("--store is required (or the store in $SLUICE_COLLECTOR_STORE)", collector.Output);
    }
}
