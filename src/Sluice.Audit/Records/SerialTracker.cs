namespace Sluice.Audit.Records;

/// <summary>
/// Finds serials that never arrived: suspected loss that the kernel's <c>lost</c> counter can miss
/// (records freed after failed delivery retries are not counted there: docs/kernel-audit.md, "Delivery").
/// </summary>
/// <remarks>
/// The kernel takes a new serial from one global 32-bit counter (docs/kernel-audit.md, "Records and events") for each
/// event it starts to log: once per syscall context, once per record outside one. Serials the
/// kernel's own filters rejected are never taken, so consecutive events of a stream are
/// consecutive serials, and a serial that never arrives is an event that was started and then
/// lost on the way (rate limit, backlog overflow, failed delivery, dropped by a socket overrun).
/// Events from different CPUs can arrive slightly out of order: a serial older than the highest seen
/// fills its gap if it comes within <see cref="AuditReassemblerOptions.SerialWindow"/> serials.
/// The comparison is modulo 2^32, so the counter wrapping from 4294967295 to 0 is not a gap.
/// A jump back by more than the window (a reboot, or concatenated logs) restarts tracking and is counted.
/// </remarks>
internal sealed class SerialTracker
{
    private readonly ulong[] _seen;
    private readonly int _mask;
    private bool _started;
    private uint _highest;

    public SerialTracker(int window)
    {
        _seen = new ulong[window / 64];
        _mask = window - 1;
    }

    /// <summary>Serials skipped and not (yet) filled.</summary>
    public long Missing { get; private set; }

    /// <summary>Times the serial jumped forward by more than one.</summary>
    public long Jumps { get; private set; }

    /// <summary>Late serials that filled a gap.</summary>
    public long Reordered { get; private set; }

    /// <summary>Times the serial went back by more than the window and tracking restarted.</summary>
    public long Restarts { get; private set; }

    public void Observe(uint serial)
    {
        if (!_started)
        {
            Restart(serial);
            return;
        }
        int d = (int)(serial - _highest);
        if (d > 0)
        {
            if (d > 1)
            {
                Missing += d - 1;
                Jumps++;
            }
            if (d > _mask)
            {
                Array.Clear(_seen);
            }
            else
            {
                for (uint s = _highest + 1; s != serial; s++)
                {
                    Clear(s);
                }
            }
            Set(serial);
            _highest = serial;
        }
        else if (d < 0)
        {
            if (-(long)d > _mask)
            {
                Restarts++;
                Restart(serial);
            }
            else if (!IsSet(serial))
            {
                Set(serial);
                Missing--;
                Reordered++;
            }
        }
    }

    /// <summary>Starts tracking as if <paramref name="serial"/> was the highest seen so far.</summary>
    public void ResumeAfter(uint serial) => Restart(serial);

    private void Restart(uint serial)
    {
        _started = true;
        _highest = serial;
        // serials before the first one seen are not ours to count
        Array.Fill(_seen, ulong.MaxValue);
    }

    private bool IsSet(uint s) => (_seen[(s & _mask) >> 6] & (1UL << (int)(s & 63))) != 0;

    private void Set(uint s) => _seen[(s & _mask) >> 6] |= 1UL << (int)(s & 63);

    private void Clear(uint s) => _seen[(s & _mask) >> 6] &= ~(1UL << (int)(s & 63));
}
