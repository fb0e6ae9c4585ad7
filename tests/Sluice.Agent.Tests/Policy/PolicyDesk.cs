using System.Diagnostics;
using Sluice.Agent.Tests.Shipping;
using Sluice.Protocol.Policies;
using Sluice.Protocol.V1;
using ProtoPolicy = Sluice.Protocol.V1.Policy;

namespace Sluice.Agent.Tests.Policy;

/// <summary>
/// The collector's side of central policy, as ingest.proto specifies it, on a <see cref="TestCollector"/>:
/// every heartbeat reply names the group's policy hash, and carries the policy itself only when the
/// agent neither has it in force nor refused it. Every exchange is recorded in order.
/// </summary>
internal sealed class PolicyDesk
{
    private readonly Lock _lock = new();
    private readonly List<(AgentHeartbeat Heartbeat, string Sent)> _exchanges = [];
    private ProtoPolicy? _policy;

    public PolicyDesk(TestCollector collector, string group)
    {
        Group = group;
        collector.HeartbeatReplyFor = Reply;
    }

    public string Group { get; }

    /// <summary>Heartbeats received, each with the hash of the policy its reply carried ("" for none).</summary>
    public List<(AgentHeartbeat Heartbeat, string Sent)> Exchanges
    {
        get
        {
            lock (_lock)
            {
                return [.. _exchanges];
            }
        }
    }

    /// <summary>Sets the group's policy; returns it and how many heartbeats had been answered before.</summary>
    public (ProtoPolicy Policy, int Before) Set(string rules, string filters = "")
    {
        var policy = new ProtoPolicy
        {
            Hash = PolicyDigest.Compute(rules, filters),
            Group = Group,
            Rules = rules,
            Filters = filters,
            SetUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
        lock (_lock)
        {
            _policy = policy;
            return (policy, _exchanges.Count);
        }
    }

    private HeartbeatReply Reply(AgentHeartbeat heartbeat)
    {
        lock (_lock)
        {
            var reply = new HeartbeatReply { Group = Group, PolicyHash = _policy?.Hash ?? "" };
            if (_policy is { } p && p.Hash != heartbeat.PolicyHash && p.Hash != heartbeat.PolicyRefusedHash)
            {
                reply.Policy = p;
            }
            _exchanges.Add((heartbeat, reply.Policy?.Hash ?? ""));
            return reply;
        }
    }

    /// <summary>Waits for the first heartbeat after the first <paramref name="skip"/> that satisfies <paramref name="done"/>; returns its index.</summary>
    public int WaitFor(int skip, Func<AgentHeartbeat, bool> done, TimeSpan timeout, string what, Func<string>? context = null)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var all = Exchanges;
            for (int i = skip; i < all.Count; i++)
            {
                if (done(all[i].Heartbeat))
                {
                    return i;
                }
            }
            if (sw.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out waiting for {what}; {all.Count} heartbeats, the last: {(all.Count > 0 ? all[^1].Heartbeat : null)}\n{context?.Invoke()}");
            }
            Thread.Sleep(100);
        }
    }
}
