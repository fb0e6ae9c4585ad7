namespace Sluice.Agent.Tests.Deploy;

/// <summary>deploy/install.sh into a temporary DESTDIR, and the units it installs checked by systemd-analyze.</summary>
public sealed class InstallTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sluice-destdir-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private (int Code, string Output) Install(params string[] extra) =>
        DeployScripts.Run("bash", [DeployScripts.Script("install.sh"), "--publish-dir", DeployScripts.PublishDir, "--root", _root, .. extra], TimeSpan.FromMinutes(5));

    private string At(string path) => Path.Combine(_root, path.TrimStart('/'));

    [Fact]
    public void Install_IntoDestdir_LaysOutProgramsLinksConfigAndUnits()
    {
        var (code, output) = Install();

        Assert.True(code == 0, output);
        foreach (var program in new[] { "/opt/sluice/agent/sluice-agent", "/opt/sluice/collector/sluice-collector" })
        {
            Assert.True(File.Exists(At(program)), $"{program} missing:\n{output}");
            Assert.True(File.GetUnixFileMode(At(program)).HasFlag(UnixFileMode.UserExecute), program);
        }
        // Self-contained: the agent is one native executable (NativeAOT: no runtime, no assemblies
        // to load); the runtime travels with the collector.
        Assert.Equal(["sluice-agent"], Directory.GetFiles(At("/opt/sluice/agent")).Select(Path.GetFileName));
        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F'], File.ReadAllBytes(At("/opt/sluice/agent/sluice-agent"))[..4]);
        Assert.True(File.Exists(At("/opt/sluice/collector/libcoreclr.so")));
        Assert.Equal("/opt/sluice/agent/sluice-agent", new FileInfo(At("/usr/local/sbin/sluice-agent")).LinkTarget);
        Assert.Equal("/opt/sluice/collector/sluice-collector", new FileInfo(At("/usr/local/sbin/sluice-collector")).LinkTarget);

        Assert.Equal(File.ReadAllText(Path.Combine(DeployScripts.RepoRoot, "config/agent.json")), File.ReadAllText(At("/etc/sluice/agent.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(DeployScripts.RepoRoot, "config/audit.rules")), File.ReadAllText(At("/etc/sluice/audit.rules")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(At("/etc/sluice/collector.tokens")));
        // It may hold the PostgreSQL password.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(At("/etc/sluice/collector.env")));
        Assert.True(File.Exists(At("/opt/sluice/share/agent.json")));
        foreach (var unit in new[] { "sluice-agent.service", "sluice-collector.service" })
        {
            Assert.Equal(File.ReadAllText(Path.Combine(DeployScripts.RepoRoot, "deploy/systemd", unit)), File.ReadAllText(At("/etc/systemd/system/" + unit)));
        }

        // The installed agent runs: its rules check reads the installed rules file.
        var (checkCode, check) = DeployScripts.Run(At("/opt/sluice/agent/sluice-agent"), ["rules", "check", At("/etc/sluice/audit.rules")], TimeSpan.FromMinutes(1));
        Assert.True(checkCode == 0, check);
    }

    [Fact]
    public void Install_Again_KeepsEditedConfigAndReplacesPrograms()
    {
        Assert.Equal(0, Install().Code);
        File.WriteAllText(At("/etc/sluice/agent.json"), "{ \"Mode\": \"Multicast\" }\n");
        File.WriteAllText(At("/etc/sluice/collector.tokens"), "host-1 sha256:00\n");
        File.WriteAllText(At("/opt/sluice/agent/stale-file"), "from an older version");

        var (code, output) = Install();

        Assert.True(code == 0, output);
        Assert.Equal("{ \"Mode\": \"Multicast\" }\n", File.ReadAllText(At("/etc/sluice/agent.json")));
        Assert.Equal("host-1 sha256:00\n", File.ReadAllText(At("/etc/sluice/collector.tokens")));
        Assert.Contains($"kept {At("/etc/sluice/agent.json")}", output);
        Assert.False(File.Exists(At("/opt/sluice/agent/stale-file")), "the programs directory was not replaced");
    }

    [Fact]
    public void Install_Again_CollectorEnvOpenToOthers_MadePrivateContentKept()
    {
        Assert.Equal(0, Install().Code);
        const string edited = "SLUICE_COLLECTOR_STORE=postgres:Host=db;Username=sluice\nPGPASSWORD=edited-secret\n";
        File.WriteAllText(At("/etc/sluice/collector.env"), edited);
        File.SetUnixFileMode(At("/etc/sluice/collector.env"), (UnixFileMode)0b110_100_100);

        var (code, output) = Install();

        Assert.True(code == 0, output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(At("/etc/sluice/collector.env")));
        Assert.Equal(edited, File.ReadAllText(At("/etc/sluice/collector.env")));
        Assert.Contains($"made {At("/etc/sluice/collector.env")} 0600", output);
    }

    /// <summary>
    /// The publish belongs to whoever built it; what is installed belongs to root:root. A program
    /// its builder can still write would run as root (the agent) on the builder's behalf.
    /// </summary>
    [SkippableFact]
    public void Install_AsRoot_EverythingInstalledIsRootOwnedWhoeverOwnsThePublish()
    {
        Skip.If(DeployScripts.Run("id", ["-u"], TimeSpan.FromMinutes(1)).Output.Trim() != "0", "not root: install.sh installs root:root only when run as root");
        string publish = Path.Combine(_root, "builders-publish");
        Assert.Equal(0, DeployScripts.Run("cp", ["-a", DeployScripts.PublishDir, publish], TimeSpan.FromMinutes(5)).ExitCode);
        Assert.Equal(0, DeployScripts.Run("chown", ["-R", "4321:4321", publish], TimeSpan.FromMinutes(5)).ExitCode);
        string dest = Path.Combine(_root, "dest");

        var (code, output) = DeployScripts.Run("bash", [DeployScripts.Script("install.sh"), "--publish-dir", publish, "--root", dest], TimeSpan.FromMinutes(5));

        Assert.True(code == 0, output);
        string[] installed = ["opt/sluice", "etc/sluice", "etc/systemd/system/sluice-agent.service", "etc/systemd/system/sluice-collector.service", "usr/local/sbin/sluice-agent"];
        var (findCode, notRoot) = DeployScripts.Run("find", [.. installed.Select(p => Path.Combine(dest, p)), "(", "!", "-uid", "0", "-o", "!", "-gid", "0", ")", "-print"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, findCode);
        Assert.True(notRoot.Trim().Length == 0, "not root:root:\n" + notRoot);
        // Modes: programs 0755, the rest 0644, directories 0755; nothing writable by group or others.
        var (_, open) = DeployScripts.Run("find", [Path.Combine(dest, "opt/sluice"), "-perm", "/022", "-print"], TimeSpan.FromMinutes(1));
        Assert.True(open.Trim().Length == 0, "writable by group or others:\n" + open);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(Path.Combine(dest, "opt/sluice/collector/sluice-collector")));
        Assert.Equal((UnixFileMode)0b110_100_100, File.GetUnixFileMode(Path.Combine(dest, "opt/sluice/collector/sluice-collector.dll")));
    }

    /// <summary>The collector's store, and so a PostgreSQL password in it, is never on its command line (ps shows that to every user).</summary>
    [Fact]
    public void CollectorUnit_ExecStart_CarriesNoStoreAndNoPassword()
    {
        string unit = File.ReadAllText(Path.Combine(DeployScripts.RepoRoot, "deploy/systemd/sluice-collector.service"));
        string env = File.ReadAllText(Path.Combine(DeployScripts.RepoRoot, "deploy/collector.env"));

        string execStart = Assert.Single(unit.Split('\n'), l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        Assert.Equal("ExecStart=/opt/sluice/collector/sluice-collector serve --tokens %d/tokens $SLUICE_COLLECTOR_ARGS", execStart);
        Assert.Contains("\nEnvironment=SLUICE_COLLECTOR_STORE=sqlite:%S/sluice-collector/events.db\n", unit);
        Assert.Contains("\nEnvironmentFile=-/etc/sluice/collector.env\n", unit);
        // The template's settings (lines that are not comments) hold no password; it says where one goes.
        Assert.DoesNotContain(env.Split('\n'), l => !l.StartsWith('#') && l.Contains("Password", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(env.Split('\n'), l => !l.StartsWith('#') && l.Contains("--store", StringComparison.Ordinal));
        Assert.Contains("#PGPASSWORD=", env);
        Assert.Contains("Environment=PGPASSFILE=%d/pgpass", env);
    }

    [Fact]
    public void Install_OtherPrefix_UnitsAndLinksFollowIt()
    {
        var (code, output) = Install("--prefix", "/usr/lib/sluice", "--bindir", "/usr/sbin");

        Assert.True(code == 0, output);
        Assert.True(File.Exists(At("/usr/lib/sluice/agent/sluice-agent")));
        Assert.Equal("/usr/lib/sluice/agent/sluice-agent", new FileInfo(At("/usr/sbin/sluice-agent")).LinkTarget);
        string unit = File.ReadAllText(At("/etc/systemd/system/sluice-agent.service"));
        Assert.Contains("ExecStart=/usr/lib/sluice/agent/sluice-agent run", unit);
        Assert.DoesNotContain("/opt/sluice", unit);
    }

    [Fact]
    public void Uninstall_RemovesProgramsLinksAndUnitsKeepsConfigUnlessPurged()
    {
        Assert.Equal(0, Install().Code);

        var (code, output) = DeployScripts.Run("bash", [DeployScripts.Script("install.sh"), "--uninstall", "--root", _root], TimeSpan.FromMinutes(1));

        Assert.True(code == 0, output);
        Assert.False(Directory.Exists(At("/opt/sluice")));
        Assert.False(File.Exists(At("/usr/local/sbin/sluice-agent")) || new FileInfo(At("/usr/local/sbin/sluice-agent")).LinkTarget is not null);
        Assert.False(File.Exists(At("/etc/systemd/system/sluice-agent.service")));
        Assert.True(File.Exists(At("/etc/sluice/agent.json")), "the configuration was removed without --purge");

        var (purgeCode, purged) = DeployScripts.Run("bash", [DeployScripts.Script("install.sh"), "--uninstall", "--purge", "--root", _root], TimeSpan.FromMinutes(1));
        Assert.True(purgeCode == 0, purged);
        Assert.False(Directory.Exists(At("/etc/sluice")));
    }

    [Fact]
    public void Install_PublishThatIsNotSelfContained_RefusedNamingIt()
    {
        string fake = Path.Combine(_root, "fake-publish");
        foreach (var app in new[] { "agent", "collector" })
        {
            // As a framework-dependent publish lays it out: an apphost and the assembly, no runtime.
            Directory.CreateDirectory(Path.Combine(fake, app));
            File.WriteAllText(Path.Combine(fake, app, "sluice-" + app), "#!/bin/sh\n");
            File.SetUnixFileMode(Path.Combine(fake, app, "sluice-" + app), UnixFileMode.UserRead | UnixFileMode.UserExecute);
            File.WriteAllText(Path.Combine(fake, app, "sluice-" + app + ".dll"), "");
        }

        var (code, output) = DeployScripts.Run("bash", [DeployScripts.Script("install.sh"), "--publish-dir", fake, "--root", Path.Combine(_root, "dest")], TimeSpan.FromMinutes(1));

        Assert.Equal(1, code);
        Assert.Contains("is not self-contained", output);
        Assert.False(Directory.Exists(Path.Combine(_root, "dest", "opt")));
    }

    /// <summary>
    /// systemd-analyze verify on the installed units: syntax, known keys and values, specifiers,
    /// and that ExecStart names an executable. It resolves absolute paths on this machine, so
    /// the installed units are checked with their program paths pointed into the DESTDIR.
    /// </summary>
    [SkippableFact]
    public void Units_SystemdAnalyzeVerify_NoErrorsNoWarnings()
    {
        string? analyze = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        Skip.If(analyze is null, "systemd-analyze is not installed on this machine (Debian package systemd); the units were not verified");
        var (code, output) = Install();
        Assert.True(code == 0, output);
        string check = Path.Combine(_root, "verify");
        Directory.CreateDirectory(check);
        var units = new List<string>();
        foreach (var unit in new[] { "sluice-agent.service", "sluice-collector.service" })
        {
            string text = File.ReadAllText(At("/etc/systemd/system/" + unit)).Replace("=/opt/sluice/", $"={_root}/opt/sluice/");
            units.Add(Path.Combine(check, unit));
            File.WriteAllText(units[^1], text);
        }

        var (verifyCode, verify) = DeployScripts.Run(analyze, ["verify", .. units], TimeSpan.FromMinutes(1), new Dictionary<string, string> { ["SYSTEMD_LOG_LEVEL"] = "warning" });

        Assert.True(verifyCode == 0, verify);
        // verify exits 0 on unknown keys and bad values too ("..., ignoring"): any output is a finding.
        Assert.True(verify.Trim().Length == 0, verify);
    }

    [SkippableFact]
    public void Units_SystemdAnalyzeSecurity_ExposureOk()
    {
        string? analyze = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        Skip.If(analyze is null, "systemd-analyze is not installed on this machine (Debian package systemd); the units' hardening was not scored");
        foreach (var unit in new[] { "sluice-agent.service", "sluice-collector.service" })
        {
            var (code, output) = DeployScripts.Run(analyze, ["security", "--offline=true", "--no-pager", "--threshold=30", Path.Combine(DeployScripts.RepoRoot, "deploy/systemd", unit)],
                TimeSpan.FromMinutes(1));
            Assert.True(code == 0, $"{unit}: exposure above 3.0 (systemd-analyze security):\n{output}");
            Assert.Contains("Overall exposure level", output);
        }
    }
}
