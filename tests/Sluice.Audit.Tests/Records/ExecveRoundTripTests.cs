using System.Text;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Records;

/// <summary>Property: any argv, encoded as the kernel does and split across EXECVE records, comes back exactly.</summary>
public sealed class ExecveRoundTripTests
{
    private static readonly string[] NonAscii = ["ü", "é", "ß", "日本", "😀", "\u2028"];
    private static readonly byte[] Tricky = " \t\n\r\"'\\=()$`;|&<>*?[]{}~#!%^,.:/"u8.ToArray();

    internal static byte[] RandomArg(Random rng)
    {
        int kind = rng.Next(8);
        int length = kind switch
        {
            0 => 0,
            7 => rng.Next(7000, 20000),  // longer than a record: split into chunks
            6 => rng.Next(200, 3000),
            _ => rng.Next(1, 40),
        };
        var arg = new List<byte>(length);
        // long arguments: plain (quoted chunks) or mixed (hex chunks); short ones: anything
        int mix = kind == 7 ? rng.Next(1, 3) : 5;
        while (arg.Count < length)
        {
            switch (rng.Next(mix))
            {
                case 0:
                    arg.Add((byte)rng.Next(0x21, 0x7f)); // plain printable
                    break;
                case 1:
                    arg.Add(Tricky[rng.Next(Tricky.Length)]);
                    break;
                case 2:
                    arg.AddRange(Encoding.UTF8.GetBytes(NonAscii[rng.Next(NonAscii.Length)]));
                    break;
                case 3:
                    arg.Add((byte)rng.Next(1, 256)); // any byte but NUL: not UTF-8 at all
                    break;
                default:
                    arg.Add((byte)'a');
                    break;
            }
        }
        return [.. arg];
    }

    private static AuditEventSummary Reassemble(IReadOnlyList<string> execveRecords, uint serial)
    {
        AuditEventSummary? summary = null;
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                summary = AuditEventInterpreter.Interpret(ev);
            }
        });
        string header = $"audit(1700000000.001:{serial}): ";
        r.Add(AuditMessageType.Syscall, Encoding.ASCII.GetBytes(header + "arch=c000003e syscall=59 success=yes exit=0 pid=1"));
        foreach (string fields in execveRecords)
        {
            Assert.True(r.Add(AuditMessageType.Execve, Encoding.ASCII.GetBytes(header + fields)));
        }
        r.Add(AuditMessageType.Cwd, Encoding.ASCII.GetBytes(header + "cwd=\"/\""));
        r.Add(AuditMessageType.Eoe, Encoding.ASCII.GetBytes(header));
        return summary ?? throw new InvalidOperationException("event not completed");
    }

    [Fact]
    public void Interpret_RandomArgvEncodedLikeKernel_SameArgv()
    {
        const int seed = 20240601;
        var rng = new Random(seed);
        int multiRecord = 0;
        for (int iteration = 0; iteration < 300; iteration++)
        {
            int count = rng.Next(1, 40);
            var argv = new List<byte[]>(count);
            for (int i = 0; i < count; i++)
            {
                argv.Add(RandomArg(rng));
            }
            int budget = rng.Next(2) == 0 ? KernelExecveEncoder.MaxExecveAuditLen : rng.Next(100, 2000);
            List<string> records = KernelExecveEncoder.Encode(argv, budget);
            if (records.Count > 1)
            {
                multiRecord++;
            }

            var summary = Reassemble(records, (uint)iteration);

            Assert.True(summary.ArgvComplete, $"seed {seed}, iteration {iteration}: argv marked incomplete");
            Assert.Equal(argv.Count, summary.Argc);
            Assert.Equal(argv.Count, summary.Argv!.Count);
            for (int i = 0; i < argv.Count; i++)
            {
                Assert.True(argv[i].AsSpan().SequenceEqual(summary.Argv[i]), $"seed {seed}, iteration {iteration}: a{i} differs");
            }
        }
        Assert.True(multiRecord > 100, $"only {multiRecord} cases spanned several EXECVE records");
    }

    [Fact]
    public void Interpret_ThreeThousandArgsAndHugeArg_SameArgv()
    {
        var argv = new List<byte[]> { "/bin/true"u8.ToArray(), Enumerable.Repeat((byte)'A', 9000).ToArray() };
        argv.AddRange(Enumerable.Range(0, 3000).Select(i => Encoding.ASCII.GetBytes($"x{i}")));
        argv.Add(Encoding.UTF8.GetBytes(new string('ü', 5000)));

        List<string> records = KernelExecveEncoder.Encode(argv);
        var summary = Reassemble(records, 42);

        Assert.True(records.Count > 3);
        Assert.True(summary.ArgvComplete);
        Assert.Equal(argv, summary.Argv!, CorpusTests.ByteArrayComparer.Instance);
    }

    [Fact]
    public void Encode_MatchesKernelOnCorpusCommandLine()
    {
        // the encoder is checked against what the kernel really wrote for `/bin/echo "arg with spaces" ...`
        var argv = new[] { "/bin/echo", "arg with spaces", "quote\"d", "tab\tx", "ünïcødé" }.Select(Encoding.UTF8.GetBytes).ToList();

        Assert.Equal(["argc=5 a0=\"/bin/echo\" a1=617267207769746820737061636573 a2=71756F74652264 a3=7461620978 a4=C3BC6EC3AF63C3B864C3A9"],
            KernelExecveEncoder.Encode(argv));
    }
}
