using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Agent.Kernel;
using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>
/// How the agent starts auditd again at stop, in both worlds: systemd as init (PID 1 starts auditd
/// in its own unit) and a host without it (the service script); and that a failed start is reported
/// with its command, exit code and output, without waiting out the timeout.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class AuditdServiceTests
{
    /// <summary>Host commands that are "installed" per <paramref name="present"/>, each answering with the same exit code and output.</summary>
    private sealed class Commands(int exitCode, string output, params string[] present) : ICommandRunner
    {
        public List<(string Command, TimeSpan Timeout)> Ran { get; } = [];

        public (int ExitCode, string Output) Run(string file, IReadOnlyList<string> args, TimeSpan timeout)
        {
            Ran.Add((string.Join(' ', [file, .. args]), timeout));
            return (exitCode, output);
        }

        public bool Exists(string file) => present.Contains(file);
    }

    private static AuditdService Service(ICommandRunner commands, bool systemd) =>
        new(commands, NullLogger<AuditdService>.Instance, TimeProvider.System) { SystemdIsInit = systemd };

    [Theory]
    [InlineData(true, new[] { "systemctl", "service", "auditctl" }, "systemctl start auditd.service")]
    [InlineData(false, new[] { "systemctl", "service", "auditctl" }, "service auditd start")]
    [InlineData(false, new[] { "/etc/init.d/auditd" }, "/etc/init.d/auditd start")]
    [InlineData(true, new[] { "service" }, "service auditd start")]
    [InlineData(false, new string[0], "auditd")]
    public void StartCommand_SystemdAsInitAsksPid1_ElseTheServiceScript(bool systemd, string[] present, string expected)
    {
        var (file, args) = Service(new Commands(0, "", present), systemd).StartCommand();
        Assert.Equal(expected, string.Join(' ', [file, .. args]));
    }

    [Fact]
    public void Start_CommandFails_ReportsCommandExitCodeAndOutput_AndDoesNotWaitOutTheTimeout()
    {
        using var control = AuditControlClient.Open();
        uint pid = control.GetStatus().Pid;
        Assert.False(pid != 0 && ProcessNames.Comm(pid) == "auditd", "auditd is running; this test needs it stopped");
        var commands = new Commands(1, "Starting auditd: failed\nCannot change priority (Operation not permitted)", "service");
        // A timeout far beyond any test: the failed command must end the wait, not the timeout.
        var timeout = TimeSpan.FromHours(1);

        var result = Service(commands, systemd: false).Start(control, timeout);

        Assert.False(result.Registered);
        Assert.Equal("service auditd start", result.Command);
        Assert.Equal(1, result.ExitCode);
        // The command itself runs within the same bound.
        Assert.Equal([("service auditd start", timeout)], commands.Ran);
        string said = result.Describe();
        Assert.Contains("`service auditd start`", said);
        Assert.Contains("exit 1", said);
        Assert.Contains("Starting auditd: failed | Cannot change priority (Operation not permitted)", said);
    }

    [Fact]
    public void Start_CommandTimedOut_SaysSo()
    {
        using var control = AuditControlClient.Open();
        uint pid = control.GetStatus().Pid;
        Assert.False(pid != 0 && ProcessNames.Comm(pid) == "auditd", "auditd is running; this test needs it stopped");
        var commands = new Commands(-1, "timed out after 5s; output so far: ", "systemctl");

        var result = Service(commands, systemd: true).Start(control, TimeSpan.FromSeconds(5));

        Assert.False(result.Registered);
        Assert.Contains("`systemctl start auditd.service`: exit -1, output: timed out after 5s", result.Describe());
    }

    [Fact]
    public async Task ProcessCommandRunner_CommandLeavesADaemonHoldingItsOutput_ReturnsWhenTheCommandExits()
    {
        // An init script whose daemon keeps the script's stdout: the run must end with the script.
        var runner = new ProcessCommandRunner();
        var run = Task.Run(() => runner.Run("sh", ["-c", "sleep 600 & echo started $!; exit 3"], TimeSpan.FromSeconds(30)));
        var ended = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) == run;
        Assert.True(ended, "the run waited for the daemon's end of output");
        var (code, output) = await run;
        if (output.Split(' ') is [_, var daemon])
        {
            Tmds.Linux.LibC.kill(int.Parse(daemon, CultureInfo.InvariantCulture), Tmds.Linux.LibC.SIGKILL);
        }
        Assert.Equal(3, code);
        Assert.StartsWith("started ", output);
    }

    [Fact]
    public void ProcessCommandRunner_CommandOverrunsItsTimeout_KilledAndSaysSo()
    {
        var (code, output) = new ProcessCommandRunner().Run("sh", ["-c", "echo begun; exec sleep 600"], TimeSpan.FromSeconds(2));
        Assert.Equal(-1, code);
        Assert.Contains("timed out after 2s", output);
        Assert.Contains("begun", output);
    }
}
