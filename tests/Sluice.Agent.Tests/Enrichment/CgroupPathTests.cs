using System.Text;
using Sluice.Agent.Enrichment;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class CgroupPathTests
{
    private const string Hex = "4f1c2a9b7e3d5f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a";
    private const string Hex2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    public static TheoryData<string, string?, string?, string?, string?> Paths => new()
    {
        // path, container id, runtime, pod uid, unit
        { "/docker/" + Hex, Hex, "docker", null, null },
        { "/system.slice/docker-" + Hex + ".scope", Hex, "docker", null, "docker-" + Hex + ".scope" },
        { "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/cri-containerd-" + Hex + ".scope",
            Hex, "containerd", "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", "cri-containerd-" + Hex + ".scope" },
        { "/kubepods.slice/kubepods-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice/crio-" + Hex + ".scope",
            Hex, "cri-o", "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", "crio-" + Hex + ".scope" },
        { "/kubepods/burstable/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/" + Hex, Hex, "kubernetes", "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", null },
        { "/kubepods/besteffort/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/" + Hex + "/extra", Hex, "kubernetes", "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", null },
        { "/machine.slice/libpod-" + Hex + ".scope", Hex, "podman", null, "libpod-" + Hex + ".scope" },
        { "/machine.slice/libpod-" + Hex + ".scope/container", Hex, "podman", null, "libpod-" + Hex + ".scope" },
        { "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + Hex + ".scope", Hex, "podman", null, "libpod-" + Hex + ".scope" },
        { "/machine.slice/libpod-conmon-" + Hex + ".scope", null, null, null, "libpod-conmon-" + Hex + ".scope" },
        { "/machine.slice/systemd-nspawn@debian.service", "debian", "systemd-nspawn", null, "systemd-nspawn@debian.service" },
        { "/machine.slice/systemd-nspawn@my\\x2dbox.service/payload", "my-box", "systemd-nspawn", null, "systemd-nspawn@my\\x2dbox.service" },
        { "/machine.slice/machine-fedora.scope", "fedora", "systemd-nspawn", null, "machine-fedora.scope" },
        { "/docker/" + Hex + "/docker/" + Hex2, Hex2, "docker", null, null },
        { "/system.slice/ssh.service", null, null, null, "ssh.service" },
        { "/user.slice/user-1000.slice/session-3.scope", null, null, null, "session-3.scope" },
        { "/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1a2b.scope", null, null, null, "vte-spawn-1a2b.scope" },
        { "/user.slice/user-1000.slice/user@1000.service/app.slice", null, null, null, "user@1000.service" },
        { "/system.slice/system-getty.slice/getty@tty1.service", null, null, null, "getty@tty1.service" },
        { "/system.slice/dev-disk-by\\x2duuid-1234.swap", null, null, null, null },
        { "/system.slice/systemd-fsck@dev-disk-by\\x2duuid-ab.service", null, null, null, "systemd-fsck@dev-disk-by\\x2duuid-ab.service" },
        { "/", null, null, null, null },
        { "", null, null, null, null },
        // Look-alikes that are not containers.
        { "/system.slice/docker-" + Hex[..63] + ".scope", null, null, null, "docker-" + Hex[..63] + ".scope" },
        { "/system.slice/docker-" + Hex.ToUpperInvariant() + ".scope", null, null, null, "docker-" + Hex.ToUpperInvariant() + ".scope" },
        { "/system.slice/docker-" + Hex + "x.scope", null, null, null, "docker-" + Hex + "x.scope" },
        { "/" + Hex, null, null, null, null },
        { "/notdocker/" + Hex, null, null, null, null },
        { "/system.slice/docker.service", null, null, null, "docker.service" },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Parse_RealWorldPaths_NamesContainerAndUnit(string path, string? id, string? runtime, string? pod, string? unit)
    {
        var info = CgroupPath.Parse(Encoding.UTF8.GetBytes(path));

        Assert.Equal(id, info.ContainerId);
        Assert.Equal(runtime, info.Runtime);
        Assert.Equal(pod, info.PodUid);
        Assert.Equal(unit, info.Unit);
    }

    [Fact]
    public void FromProcFile_V2Line_IsChosenOverV1()
    {
        string text = $"12:memory:/other\n1:name=systemd:/system.slice/cron.service\n0::/system.slice/docker-{Hex}.scope\n";

        var (path, info) = CgroupPath.FromProcFile(Encoding.ASCII.GetBytes(text));

        Assert.Equal($"/system.slice/docker-{Hex}.scope", Encoding.ASCII.GetString(path!));
        Assert.Equal(Hex, info.ContainerId);
    }

    [Fact]
    public void FromProcFile_HybridWithRootV2_TakesSystemdHierarchy()
    {
        string text = "9:name=systemd:/system.slice/ssh.service\n4:memory:/system.slice/ssh.service\n0::/\n";

        var (path, info) = CgroupPath.FromProcFile(Encoding.ASCII.GetBytes(text));

        Assert.Equal("/system.slice/ssh.service", Encoding.ASCII.GetString(path!));
        Assert.Equal("ssh.service", info.Unit);
        Assert.Null(info.ContainerId);
    }

    [Fact]
    public void FromProcFile_ContainerOnlyInAV1Controller_IsFound()
    {
        string text = $"9:name=systemd:/system.slice/containerd.service\n4:memory:/docker/{Hex}\n0::/\n";

        var (_, info) = CgroupPath.FromProcFile(Encoding.ASCII.GetBytes(text));

        Assert.Equal(Hex, info.ContainerId);
        Assert.Equal("containerd.service", info.Unit);
    }

    [Fact]
    public void FromProcFile_AllRoot_IsKnownNothing()
    {
        var (path, info) = CgroupPath.FromProcFile("9:name=systemd:/\n0::/\n"u8);

        Assert.Equal("/", Encoding.ASCII.GetString(path!));
        Assert.Equal(CgroupInfo.None, info);
    }

    [Fact]
    public void Hostile_NamesAndText_NeverThrowAndMatchNothingFalse()
    {
        var rng = new Random(19);
        byte[] buffer = new byte[600];
        for (int i = 0; i < 2000; i++)
        {
            rng.NextBytes(buffer);
            int n = rng.Next(buffer.Length);
            _ = CgroupPath.Parse(buffer.AsSpan(0, n));
            _ = CgroupPath.FromProcFile(buffer.AsSpan(0, n));
        }
        // Invalid UTF-8, newlines, escapes of control characters, huge names.
        byte[] bad = [.. "/system.slice/\xff\xfe-"u8, .. "\n0::/x\\x0a\\x00y.service\n"u8];
        var (_, info) = CgroupPath.FromProcFile(bad);
        Assert.Equal("x\\x0a\\x00y.service", info.Unit);
        string huge = "/" + new string('a', 100_000) + ".service";
        var big = CgroupPath.Parse(Encoding.ASCII.GetBytes(huge));
        Assert.Null(big.Unit); // cut to MaxPathBytes: no ".service" left
        Assert.Equal(CgroupPath.MaxUnitChars, CgroupPath.Unescape(new string('b', 1000)).Length);
        Assert.Null(CgroupPath.Parse(Encoding.UTF8.GetBytes("/docker/" + Hex[..60] + "ü\u00e9")).ContainerId);
    }
}
