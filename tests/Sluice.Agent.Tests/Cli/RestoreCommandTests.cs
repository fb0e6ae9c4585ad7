using Sluice.Agent.Cli;
using Sluice.Agent.Kernel;

namespace Sluice.Agent.Tests.Cli;

/// <summary><c>sluice-agent restore --unless-restarted</c> as the unit's ExecStopPost: which stops leave the state file to the restart.</summary>
public sealed class RestoreCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-restore-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Func<string, string?> Env(string? result, string? code, string? status) => name => name switch
    {
        "SERVICE_RESULT" => result,
        "EXIT_CODE" => code,
        "EXIT_STATUS" => status,
        _ => null,
    };

    [Theory]
    // Killed or crashed: Restart=on-failure starts the agent again.
    [InlineData("signal", "killed", "KILL", true)]
    [InlineData("core-dump", "dumped", "SEGV", true)]
    [InlineData("core-dump", "dumped", "ABRT", true)]
    [InlineData("oom-kill", "killed", "KILL", true)]
    // The four clean signals are not restarted after.
    [InlineData("signal", "killed", "TERM", false)]
    [InlineData("signal", "killed", "HUP", false)]
    // systemd's SIGKILL at the stop timeout: a stop, no restart.
    [InlineData("timeout", "killed", "KILL", false)]
    [InlineData("success", "exited", "0", false)]
    [InlineData("exit-code", "exited", "2", false)]
    // Not run by systemd at all.
    [InlineData(null, null, null, false)]
    public void RestartFollows_OnlyAfterAKillThatOnFailureRestarts(string? result, string? code, string? status, bool expected)
    {
        Assert.Equal(expected, RestoreCommand.RestartFollows(Env(result, code, status)));
    }

    [Fact]
    public void Run_UnlessRestartedAfterSigkill_LeavesTheStateFileAndSaysWhy()
    {
        string state = Path.Combine(_dir, "state");
        Directory.CreateDirectory(state);
        // The state file of an agent that no longer runs.
        new KernelState { CreatedUtc = DateTimeOffset.UtcNow, AgentPid = int.MaxValue - 1, Enabled = 1, Failure = 1, BacklogLimit = 8192 }.Save(state);
        string config = Path.Combine(_dir, "agent.json");
        File.WriteAllText(config, AgentRunner.Config(_dir, ""));
        File.WriteAllText(Path.Combine(_dir, "audit.rules"), "");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = RestoreCommand.Run(config, stdout, stderr, Env("signal", "killed", "KILL"));

        Assert.True(code == 0, stderr.ToString());
        Assert.True(File.Exists(Path.Combine(state, KernelState.FileName)));
        Assert.Contains("not restoring", stdout.ToString());
        Assert.Contains("SIGKILL", stdout.ToString());
    }
}
