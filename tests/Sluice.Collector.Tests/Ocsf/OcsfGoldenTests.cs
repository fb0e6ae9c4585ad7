using System.Runtime.CompilerServices;
using System.Text;
using Sluice.Protocol;

namespace Sluice.Collector.Tests.Ocsf;

/// <summary>
/// The whole OCSF object of four corpus events, compared exactly with a checked-in file (golden/*.json,
/// indented): an execve, a login (su's PAM authentication), a useradd and an open refused with EACCES.
/// Sluice's version is written as <c>{product_version}</c> in the files, so that a release does not change them.
/// To rewrite them after a deliberate change: <c>SLUICE_UPDATE_GOLDEN=1 dotnet test --filter OcsfGolden</c>, then review the diff.
/// </summary>
public sealed class OcsfGoldenTests
{
    public static TheoryData<string, ulong> Cases => new()
    {
        // /bin/echo "arg with spaces" 'quote"d' "tab<TAB>x" "ünïcødé": arguments the kernel logged in hex
        { "execve", 1173852 },
        // su: PAM authentication of corpususer
        { "login", 1174361 },
        // useradd: ADD_USER op=adding user id=1001
        { "useradd", 1174333 },
        // cat /etc/shadow as uid 1001: openat refused, EACCES
        { "open-eacces", 1174370 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Write_CorpusEvent_EqualsTheGoldenFile(string name, ulong serial)
    {
        var stored = OcsfCorpus.Load("kernel-6.18-raw.log").Single(s => s.Event.Serial == serial);

        string actual = Encoding.UTF8.GetString(OcsfCorpus.Ocsf(stored, indented: true))
            .Replace($"\"version\": \"{ProductVersion.Current}\"", "\"version\": \"{product_version}\"", StringComparison.Ordinal) + "\n";

        if (Environment.GetEnvironmentVariable("SLUICE_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(Path.Combine(SourceDirectory(), "golden", name + ".json"), actual);
        }
        string expected = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Ocsf", "golden", name + ".json"));
        Assert.Equal(expected, actual);
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
