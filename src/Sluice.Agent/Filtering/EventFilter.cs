using System.Text;
using Sluice.Agent.Configuration;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Filtering;

/// <summary>Per filter rule: events it matched and events it dropped.</summary>
internal sealed record FilterCount(string Name, string Action, long Matched, long Dropped);

/// <summary>
/// The configured filter rules, first match wins, evaluated on the event's raw kernel text
/// before interpretation, so a dropped event costs no decoding and no allocation.
/// </summary>
internal sealed class EventFilter
{
    private readonly CompiledRule[] _rules;
    private readonly TimeProvider _time;

    /// <param name="previous">
    /// The filter this one replaces: a rule with the same name and action keeps counting on the
    /// previous rule's counters (the very same ones, so no count made during the swap is lost).
    /// </param>
    public EventFilter(IReadOnlyList<FilterRuleOptions> rules, TimeProvider time, EventFilter? previous = null)
    {
        _time = time;
        _rules = rules.Select((r, i) => new CompiledRule(r, i)).ToArray();
        if (previous is not null)
        {
            foreach (var rule in _rules)
            {
                if (previous._rules.FirstOrDefault(p => p.Name == rule.Name && p.Options.Action == rule.Options.Action) is { } same)
                {
                    rule.Counter = same.Counter;
                }
            }
        }
    }

    /// <summary>True to keep the event, false to drop it (counted against the rule that matched).</summary>
    public bool Keep(AuditEvent ev)
    {
        foreach (var rule in _rules)
        {
            if (!rule.Matches(ev))
            {
                continue;
            }
            var counter = rule.Counter;
            Interlocked.Increment(ref counter.Matched);
            bool keep = rule.Options.Action switch
            {
                FilterAction.Keep => true,
                FilterAction.Drop => false,
                // Keeps the 1st, N+1th, 2N+1th ... event the rule matches.
                FilterAction.Sample => (Interlocked.Increment(ref counter.Sampled) - 1) % rule.Options.SampleEvery == 0,
                FilterAction.RateLimit => rule.TryTake(KeyOf(ev), _time.GetTimestamp(), _time.TimestampFrequency),
                _ => true,
            };
            if (!keep)
            {
                Interlocked.Increment(ref counter.Dropped);
            }
            return keep;
        }
        return true;
    }

    public IReadOnlyList<FilterCount> Counts => _rules
        .Select(r => new FilterCount(r.Name, r.Options.Action.ToString(), Volatile.Read(ref r.Counter.Matched), Volatile.Read(ref r.Counter.Dropped)))
        .ToList();

    private static string KeyOf(AuditEvent ev)
    {
        Span<byte> buffer = stackalloc byte[512];
        return FieldText.TryGet(ev, AuditMessageType.Syscall, "key"u8, buffer, out var key) ? Encoding.UTF8.GetString(key) : "";
    }

    /// <summary>One rule's counts; shared with the rule of the same name in a filter that replaces this one.</summary>
    private sealed class RuleCounter
    {
        public long Matched;
        public long Dropped;
        public long Sampled;
    }

    private sealed class CompiledRule
    {
        public readonly FilterRuleOptions Options;
        public readonly string Name;
        public RuleCounter Counter = new();
        private readonly HashSet<AuditMessageType>? _types;
        private readonly HashSet<(uint Arch, int Nr)>? _syscalls;
        private readonly byte[][]? _keys;
        private readonly byte[][]? _exe;
        private readonly byte[][]? _comm;
        private readonly byte[][]? _paths;
        private readonly Dictionary<string, (double Tokens, long Stamp)> _buckets = new();

        public CompiledRule(FilterRuleOptions o, int index)
        {
            Options = o;
            Name = string.IsNullOrEmpty(o.Name) ? $"filter[{index}]" : o.Name;
            if (o.RecordTypes is { Count: > 0 })
            {
                // an unknown name (the options validator refuses them) matches nothing
                _types = [];
                foreach (string name in o.RecordTypes)
                {
                    if (AuditMessageTypeTable.TryGetType(name, out AuditMessageType type))
                    {
                        _types.Add(type);
                    }
                }
            }
            if (o.Syscalls is { Count: > 0 })
            {
                _syscalls = new();
                foreach (var name in o.Syscalls)
                {
                    foreach (uint arch in new[] { AuditArch.X86_64, AuditArch.I386, AuditArch.Aarch64 })
                    {
                        if (SyscallTable.TryGetNumber(arch, name, out int nr))
                        {
                            _syscalls.Add((arch, nr));
                        }
                    }
                }
            }
            _keys = Bytes(o.Keys);
            _exe = Bytes(o.Exe);
            _comm = Bytes(o.Comm);
            _paths = Bytes(o.PathPrefixes);
        }

        private static byte[][]? Bytes(List<string>? values) =>
            values is { Count: > 0 } ? values.Select(Encoding.UTF8.GetBytes).ToArray() : null;

        public bool Matches(AuditEvent ev)
        {
            if (_types is not null && !AnyType(ev))
            {
                return false;
            }
            AuditMessageType main = ev.MainType;
            Span<byte> buffer = stackalloc byte[4096];
            if (_syscalls is not null)
            {
                if (!ev.TryGetField(AuditMessageType.Syscall, "syscall"u8, out var nrText, out _)
                    || !ev.TryGetField(AuditMessageType.Syscall, "arch"u8, out var archText, out _)
                    || !AuditValues.TryParseUInt32(nrText, out uint nr)
                    || !AuditValues.TryParseHexUInt32(archText, out uint arch)
                    || !_syscalls.Contains((arch, (int)nr)))
                {
                    return false;
                }
            }
            if (Options.Success is bool success)
            {
                if (!ev.TryGetField(AuditMessageType.Syscall, "success"u8, out var s, out _)
                    || s.SequenceEqual("yes"u8) != success)
                {
                    return false;
                }
            }
            if (!MatchId(ev, main, "uid"u8, Options.Uids) || !MatchId(ev, main, "auid"u8, Options.Auids) || !MatchId(ev, main, "euid"u8, Options.Euids))
            {
                return false;
            }
            if (_keys is not null && !MatchKeys(ev, buffer))
            {
                return false;
            }
            if (_exe is not null && !MatchGlob(ev, main, "exe"u8, _exe, buffer))
            {
                return false;
            }
            if (_comm is not null && !MatchGlob(ev, main, "comm"u8, _comm, buffer))
            {
                return false;
            }
            return _paths is null || MatchPaths(ev, buffer);
        }

        private bool AnyType(AuditEvent ev)
        {
            for (int i = 0; i < ev.Count; i++)
            {
                if (_types!.Contains(ev[i].Type))
                {
                    return true;
                }
            }
            return false;
        }

        private static bool MatchId(AuditEvent ev, AuditMessageType main, ReadOnlySpan<byte> key, List<uint>? wanted)
        {
            if (wanted is not { Count: > 0 })
            {
                return true;
            }
            return ev.TryGetField(main, key, out var text, out _) && AuditValues.TryParseUInt32(text, out uint id) && wanted.Contains(id);
        }

        private bool MatchKeys(AuditEvent ev, Span<byte> buffer)
        {
            if (!FieldText.TryGet(ev, AuditMessageType.Syscall, "key"u8, buffer, out var key))
            {
                return false;
            }
            // auditctl joins several keys of one rule with 0x01.
            while (true)
            {
                int end = key.IndexOf((byte)1);
                var part = end < 0 ? key : key[..end];
                foreach (var wanted in _keys!)
                {
                    if (part.SequenceEqual(wanted))
                    {
                        return true;
                    }
                }
                if (end < 0)
                {
                    return false;
                }
                key = key[(end + 1)..];
            }
        }

        private static bool MatchGlob(AuditEvent ev, AuditMessageType main, ReadOnlySpan<byte> field, byte[][] patterns, Span<byte> buffer)
        {
            if (!FieldText.TryGet(ev, main, field, buffer, out var value))
            {
                return false;
            }
            foreach (var p in patterns)
            {
                if (Glob.IsMatch(p, value))
                {
                    return true;
                }
            }
            return false;
        }

        private bool MatchPaths(AuditEvent ev, Span<byte> buffer)
        {
            for (int i = ev.IndexOf(AuditMessageType.Path); i >= 0; i = ev.IndexOf(AuditMessageType.Path, i + 1))
            {
                var reader = ev[i].Fields();
                if (!reader.TryFind("name"u8) || !AuditValues.TryDecodeString(reader.Value, reader.ValueKind, buffer, out var name))
                {
                    continue;
                }
                foreach (var prefix in _paths!)
                {
                    if (name.StartsWith(prefix))
                    {
                        return true;
                    }
                }
            }
            return false;
        }

        /// <summary>Token bucket per key: RatePerSecond tokens a second, a burst of one second's worth.</summary>
        public bool TryTake(string key, long now, long frequency)
        {
            lock (_buckets)
            {
                double rate = Options.RatePerSecond;
                var (tokens, stamp) = _buckets.TryGetValue(key, out var b) ? b : (Math.Max(1, rate), now);
                tokens = Math.Min(Math.Max(1, rate), tokens + (now - stamp) * rate / frequency);
                bool take = tokens >= 1;
                _buckets[key] = (take ? tokens - 1 : tokens, now);
                return take;
            }
        }
    }
}
