using Grpc.Core;
using Sluice.Collector.Auth;
using Sluice.Collector.Cli;
using Sluice.Collector.Interop;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Fleet.FleetCollector;

namespace Sluice.Collector.Tests.Fleet;

/// <summary><c>agents add</c> and <c>agents revoke</c> against a running collector, which reads its token file again when it changes.</summary>
public sealed class EnrollmentTests : IDisposable
{
    private readonly SqliteStoreFactory _stores = new();

    public void Dispose() => _stores.Dispose();

    [Fact]
    public async Task AgentsAdd_OnRunningCollector_TokenAccepted_ThenRevoke_NextCallOnSameCollectorUnauthenticated()
    {
        await using var fleet = await StartAsync(_stores);
        var client = fleet.Client();
        // Not enrolled yet: refused.
        Assert.Equal(StatusCode.Unauthenticated, await fleet.HeartbeatStatusAsync(client, "web-1", "not-a-token-0123456789"));

        string token = fleet.Add("web-1", "web");

        // Accepted without a restart, once the collector has looked at the file (at most a second with the default).
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", token), s => s == StatusCode.OK, "the new agent accepted");
        // Another agent added on the same running collector is accepted too, and the first stays accepted.
        string other = fleet.Add("db-1");
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "db-1", other), s => s == StatusCode.OK, "the second agent accepted");

        Assert.Equal(0, AgentsCommand.RunRevoke(fleet.TokensPath, "web-1", new StringWriter()));

        var refused = await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", token), s => s != StatusCode.OK, "the revoked agent refused");
        Assert.Equal(StatusCode.Unauthenticated, refused);
        // Its batches are refused as well, with the reason.
        var e = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch("web-1", 1, 1), Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("unknown agent token", e.Status.Detail);
        // The other agent is unaffected.
        Assert.Equal(StatusCode.OK, await fleet.HeartbeatStatusAsync(client, "db-1", other));
        Assert.True(fleet.Server.Counters.RefusedUnauthenticated >= 2);
    }

    [Fact]
    public async Task AgentsAdd_PrintsTokenOnce_FileHoldsOnlyItsDigestAndGroup_ModeAndCommentsKept()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-enroll-").FullName;
        try
        {
            string path = Path.Combine(dir, "collector.tokens");
            PrivateFile.Write(path, "# fleet\nold-1 " + new string('x', 20));
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int rc = AgentsCommand.RunAdd(path, "web-1", "web", stdout, stderr);

            Assert.True(rc == 0, stderr.ToString());
            string token = stdout.ToString();
            Assert.Matches("^[A-Za-z0-9_-]{43}\n$", token);
            token = token.TrimEnd('\n');
            string text = await File.ReadAllTextAsync(path);
            Assert.DoesNotContain(token, text);
            Assert.Equal($"# fleet\nold-1 {new string('x', 20)}\n{AgentTokens.HashedLine("web-1", token, "web")}\n", text);
            Assert.Matches("\nweb-1 sha256:[0-9a-f]{64} group=web\n$", text);
            Assert.Equal(PrivateFile.Mode, File.GetUnixFileMode(path));
            var tokens = AgentTokens.Load(path);
            Assert.Equal("web-1", tokens.FindAgent(token));
            Assert.Equal("web", tokens.GroupOf("web-1"));
            Assert.Equal(AgentTokens.DefaultGroup, tokens.GroupOf("old-1"));
            // No temporary file is left beside it.
            Assert.Equal(["collector.tokens"], Directory.GetFiles(dir).Select(Path.GetFileName));
            // Two adds make two different tokens.
            var second = new StringWriter();
            Assert.Equal(0, AgentsCommand.RunAdd(path, "web-2", "web", second, new StringWriter()));
            Assert.NotEqual(token, second.ToString().TrimEnd('\n'));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("web-1", "web", "agent 'web-1' is enrolled already")]
    [InlineData("bad/name", "web", "agent name 'bad/name' is not valid")]
    [InlineData("web-2", "-web", "group '-web' is not valid")]
    [InlineData("web-2", "", "group '' is not valid")]
    public void AgentsAdd_DuplicateOrBadNameOrGroup_RefusedWithExit2NamingIt_FileUnchanged(string name, string group, string expected)
    {
        string dir = Directory.CreateTempSubdirectory("sluice-enroll-").FullName;
        try
        {
            string path = Path.Combine(dir, "collector.tokens");
            PrivateFile.Write(path, AgentTokens.HashedLine("web-1", "token-0123456789abcdef", "web") + "\n");
            string before = File.ReadAllText(path);
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int rc = AgentsCommand.RunAdd(path, name, group, stdout, stderr);

            Assert.Equal(2, rc);
            Assert.Contains(expected, stderr.ToString());
            Assert.Equal("", stdout.ToString());
            Assert.Equal(before, File.ReadAllText(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AgentsAdd_FileOfAnotherOwner_NewVersionKeepsItsOwnerAndMode()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-enroll-").FullName;
        try
        {
            string path = Path.Combine(dir, "collector.tokens");
            PrivateFile.Write(path, "");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            // As root (how an operator runs it): the file belongs to the collector's user, here nobody (65534).
            bool root = Files.EffectiveUid() == 0;
            uint owner = root ? 65534u : Files.EffectiveUid();
            if (root)
            {
                Assert.Equal(0, System.Diagnostics.Process.Start("chown", ["65534:65534", path])!.WaitForExitAndGetCode());
            }

            Assert.Equal(0, AgentsCommand.RunAdd(path, "web-1", "web", new StringWriter(), new StringWriter()));
            Assert.Equal(0, AgentsCommand.RunRevoke(path, "web-1", new StringWriter()));
            Assert.Equal(0, AgentsCommand.RunAdd(path, "web-2", "web", new StringWriter(), new StringWriter()));

            var stamp = Files.Stat(path, out _)!.Value;
            Assert.Equal(owner, stamp.Uid);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Matches("^web-2 sha256:[0-9a-f]{64} group=web\n$", File.ReadAllText(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task TokenFile_EditedToGarbageMidRun_PreviousTableKept_FailureLoggedWithLineAndCounted_ThenFixedFileTaken()
    {
        await using var fleet = await StartAsync(_stores, tokensCheck: TimeSpan.FromMilliseconds(100));
        var client = fleet.Client();
        string token = fleet.Add("web-1", "web");
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", token), s => s == StatusCode.OK, "the agent accepted");
        string good = await File.ReadAllTextAsync(fleet.TokensPath);

        // A botched edit: line 3 is garbage (after the comment and web-1). Written in place, as an editor might.
        await File.WriteAllTextAsync(fleet.TokensPath, good + "this line is not a token line at all\n");
        var auth = fleet.Server.Services.GetService(typeof(AgentAuthenticator)) as AgentAuthenticator;
        Assert.NotNull(auth?.File);
        // The file is looked at on the authentication path: each call may look.
        await EventuallyAsync(async () => (await fleet.HeartbeatStatusAsync(client, "web-1", token), auth!.File!.ReloadFailures), r => r.Item2 >= 1, "the failed reload counted");

        // Everyone enrolled before is still accepted, nobody is locked out; the failure names the file and line.
        Assert.Equal(StatusCode.OK, await fleet.HeartbeatStatusAsync(client, "web-1", token));
        string line = Assert.Single(fleet.Log.With(161));
        Assert.Contains($"token file {fleet.TokensPath} line 3: expected", line);
        Assert.Contains("previous token table (1 agents) stays in force", line);
        Assert.Equal(1, auth!.File!.ReloadFailures);

        // A file others may read is refused the same way, and so is a deleted one: the table stays.
        File.Delete(fleet.TokensPath);
        await EventuallyAsync(async () => (await fleet.HeartbeatStatusAsync(client, "web-1", token), auth.File.ReloadFailures), r => r.Item2 >= 2, "the missing file counted");
        Assert.Equal(StatusCode.OK, await fleet.HeartbeatStatusAsync(client, "web-1", token));

        // Fixed (without web-1): taken, and web-1 refused.
        PrivateFile.Write(fleet.TokensPath, "# emptied\n");
        await EventuallyAsync(() => fleet.HeartbeatStatusAsync(client, "web-1", token), s => s == StatusCode.Unauthenticated, "the fixed file taken");
        Assert.Contains(fleet.Log.With(160), l => l.Contains("0 agents enrolled now", StringComparison.Ordinal));
    }
}

internal static class ProcessExtensions
{
    public static int WaitForExitAndGetCode(this System.Diagnostics.Process p)
    {
        p.WaitForExit();
        return p.ExitCode;
    }
}
