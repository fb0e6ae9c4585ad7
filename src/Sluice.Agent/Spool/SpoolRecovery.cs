using Microsoft.Extensions.Logging;

namespace Sluice.Agent.Spool;

/// <summary>
/// Opens the spool directory after a clean close or a crash and builds its index: reads the state
/// file, scans every segment (a torn or corrupt tail is cut, everything before it kept:
/// <see cref="SegmentFile.Recover"/>), counts the batches missing between those found as corrupt,
/// works out the next sequence, keeps the epoch or starts one, and settles which loss recorded
/// before the restart is still to be reported.
/// </summary>
internal static class SpoolRecovery
{
    /// <exception cref="IOException">The directory, the state file or a segment could not be read or repaired; no file is left open.</exception>
    public static SpoolIndex Open(SpoolSettings settings)
    {
        var (_, directory, maxPayload, _, logger) = settings;
        PrivateFiles.EnsureDirectory(directory, logger);
        File.Delete(Path.Combine(directory, SpoolState.FileName + ".tmp"));

        SpoolState? state = null;
        bool stateDamaged = false;
        try
        {
            state = SpoolState.Read(directory);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            SpoolLog.StateUnusable(logger, e);
            stateDamaged = true;
        }
        bool stateKnown = state is not null;
        ulong ackedThrough = state?.AckedThrough ?? 0;
        ulong droppedThrough = state?.DroppedThrough ?? 0;
        ulong floor = Math.Max(ackedThrough, droppedThrough);

        var files = new List<(ulong First, string Path)>();
        foreach (string path in Directory.EnumerateFiles(directory, "*" + SegmentFile.Extension))
        {
            if (SegmentFile.TryParseName(path, out ulong first))
            {
                files.Add((first, path));
            }
        }
        files.Sort((a, b) => a.First.CompareTo(b.First));

        var segments = new List<IndexedSegment>();
        try
        {
            long cutBytes;
            Dictionary<ulong, int> cutEvents;
            using (var scan = new RecoveryScan(maxPayload, logger))
            {
                foreach (var (_, path) in files)
                {
                    var entries = new List<IndexEntry>();
                    if (SegmentFile.Recover(path, scan, entries) is { } file)
                    {
                        var segment = new IndexedSegment(file, isSealed: true);
                        segment.Entries.AddRange(entries);
                        segments.Add(segment);
                    }
                }
                cutBytes = scan.CutBytes;
                cutEvents = scan.CutEvents;
            }

            var corrupt = CountMissing(segments, floor, stateKnown, state?.NextSequence ?? 0, cutEvents, logger);

            ulong lastOnDisk = segments.Count > 0 ? segments[^1].LastSequence : 0;
            ulong nextSequence = Math.Max(Math.Max(state?.NextSequence ?? 1, lastOnDisk + 1), floor + 1);

            string epoch;
            ulong epochStart;
            long epochsStarted = 0;
            if (state?.Epoch is { } known)
            {
                epoch = known;
                epochStart = state.EpochStartSequence;
            }
            else
            {
                // Batches cut from here on cannot know which sequences the spool used before (the state
                // is gone), or were cut without an epoch (format 1): a new epoch keeps their keys apart.
                epoch = SpoolState.NewEpoch();
                epochStart = nextSequence;
                epochsStarted = 1;
                if (state is null && !stateDamaged && files.Count == 0)
                {
                    SpoolLog.NewSpool(logger, directory, epoch, epochStart);
                }
                else
                {
                    string why = state is not null ? "the spool predates epochs (state format 1)"
                        : stateDamaged ? "the state file was damaged"
                        : "the state file is missing";
                    SpoolLog.EpochStarted(logger, directory, epoch, epochStart, why);
                }
            }

            // Loss recorded before a restart is reported once its carrier batch is on disk (or gone
            // past the floor: acknowledged, or dropped with its report handed on); otherwise it rides
            // on the next batch.
            var pending = DeliveryLoss.None;
            if (state is not null)
            {
                if (!IsCarried(segments, state.CarryingSequence, floor))
                {
                    pending += state.Carrying;
                }
                if (!IsCarried(segments, state.PendingCarrier, floor))
                {
                    pending += state.Pending;
                }
            }

            var recovered = new RecoveredSpool(segments, nextSequence, ackedThrough, droppedThrough, epoch, epochStart, epochsStarted, pending + corrupt, corrupt, cutBytes);
            return SpoolIndex.Open(recovered, settings);
        }
        catch
        {
            foreach (var segment in segments)
            {
                segment.File.Dispose();
            }
            throw;
        }
    }

    // Sequences missing between entries that were never acknowledged nor dropped were lost to
    // damage on disk: count them as corrupt batches, with their events where a header told them.
    private static DeliveryLoss CountMissing(List<IndexedSegment> segments, ulong floor, bool stateKnown, ulong stateNext, Dictionary<ulong, int> cutEvents, ILogger logger)
    {
        var missing = new List<(ulong From, ulong To)>();
        ulong expected = floor + 1;
        foreach (var segment in segments)
        {
            foreach (var entry in segment.Entries)
            {
                if (entry.Sequence > expected && (stateKnown || expected > floor + 1))
                {
                    missing.Add((expected, entry.Sequence - 1));
                }
                expected = Math.Max(expected, entry.Sequence + 1);
            }
        }
        if (stateKnown && stateNext > expected)
        {
            // Batches the state file says were written after the last one now on disk.
            missing.Add((expected, stateNext - 1));
        }
        var corrupt = DeliveryLoss.None;
        foreach (var (from, to) in missing)
        {
            ulong events = 0;
            foreach (var (sequence, count) in cutEvents)
            {
                if (sequence >= from && sequence <= to)
                {
                    events += (ulong)count;
                }
            }
            corrupt += new DeliveryLoss { SpoolCorruptBatches = to - from + 1, SpoolCorruptEvents = events };
            SpoolLog.Gap(logger, from, to, to - from + 1, events);
        }
        return corrupt;
    }

    private static bool IsCarried(List<IndexedSegment> segments, ulong carrier, ulong floor)
        => carrier != 0 && (carrier <= floor || IndexedSegment.TryFind(segments, carrier, out _));
}

/// <summary>What <see cref="SpoolRecovery"/> found on disk, for the index to start from.</summary>
/// <param name="Segments">The segments that kept entries, in sequence order, all sealed.</param>
/// <param name="EpochsStarted">1 when the epoch was started at this open, else 0.</param>
/// <param name="Unreported">Delivery loss still to be carried by a batch: from before the restart, and <paramref name="Corrupt"/>.</param>
/// <param name="Corrupt">Batches (and their events, where known) found missing on disk.</param>
/// <param name="CutBytes">Bytes cut from torn or damaged segment ends.</param>
internal sealed record RecoveredSpool(
    List<IndexedSegment> Segments,
    ulong NextSequence,
    ulong AckedThrough,
    ulong DroppedThrough,
    string Epoch,
    ulong EpochStartSequence,
    long EpochsStarted,
    DeliveryLoss Unreported,
    DeliveryLoss Corrupt,
    long CutBytes);
