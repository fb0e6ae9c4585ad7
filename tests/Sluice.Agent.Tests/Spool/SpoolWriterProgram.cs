using System.Globalization;
using Sluice.Agent.Spool;

namespace Sluice.Agent.Tests.Spool;

/// <summary>
/// Entry point of the test assembly when run as a process (<c>dotnet Sluice.Agent.Tests.dll
/// spool-writer DIR FIRST_SERIAL</c>): appends large batches to the spool in DIR as fast as it can,
/// fsync per batch, and prints "committed SEQ FIRST_SERIAL COUNT" after each append returns, until
/// it is killed. The crash tests kill it mid-write. The test runner never calls this.
/// </summary>
public static class SpoolWriterProgram
{
    public const string Verb = "spool-writer";
    public const int EventsPerBatch = 150;
    public const int PaddingPerEvent = 400;

    public static int Main(string[] args)
    {
        if (args.Length != 3 || args[0] != Verb)
        {
            Console.Error.WriteLine($"usage: {Verb} DIR FIRST_SERIAL");
            return 2;
        }
        var spool = DiskSpool.Open(new SpoolOptions { Directory = args[1], MaxBytes = 1024L * 1024 * 1024, SegmentBytes = 4 * 1024 * 1024 });
        ulong serial = ulong.Parse(args[2], CultureInfo.InvariantCulture);
        var stdout = Console.Out;
        while (true)
        {
            var batch = TestBatches.Create(serial, EventsPerBatch, PaddingPerEvent);
            ulong sequence = spool.Append(batch);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"committed {sequence} {serial} {EventsPerBatch}"));
            stdout.Flush();
            serial += EventsPerBatch;
        }
    }
}
