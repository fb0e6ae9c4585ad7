using System.Diagnostics;

namespace Sluice.Audit.Tests.Rules;

/// <summary>Runs the real auditctl, the oracle for the rules compiler. Callers hold the kernel lock.</summary>
internal static class Auditctl
{
    public static string Path { get; } = new[] { "/sbin/auditctl", "/usr/sbin/auditctl" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("auditctl is not installed (apt-get install auditd): it is the oracle for these tests");

    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Path, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    /// <summary>The output of <c>auditctl -l</c>.</summary>
    public static string List()
    {
        var (code, stdout, stderr) = Run("-l");
        Assert.True(code == 0, $"auditctl -l failed: {stderr}");
        return stdout;
    }
}
