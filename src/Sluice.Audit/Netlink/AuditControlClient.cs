using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Sluice.Audit.Interop;
using Sluice.Audit.Rules;
using Sluice.Audit.Tables;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Netlink;

/// <summary>
/// Reads and changes the kernel's audit settings and rules, on a netlink socket of its own.
/// Never used for receiving events: when the backlog is full, even a netlink sender can be made
/// to wait, so control traffic stays off the receive path (docs/kernel-audit.md, "Socket and control").
/// </summary>
/// <remarks>Not thread-safe: one request at a time.</remarks>
public sealed class AuditControlClient : IDisposable
{
    private readonly NetlinkAuditSocket _socket;
    private readonly AuditRequestChannel _channel;

    private AuditControlClient(NetlinkAuditSocket socket, TimeSpan timeout)
    {
        _socket = socket;
        _channel = new AuditRequestChannel(socket, timeout, unsolicited: null);
    }

    /// <summary>Opens a control socket.</summary>
    /// <exception cref="AuditException">The kernel has no audit support.</exception>
    public static AuditControlClient Open(TimeSpan? timeout = null)
    {
        var socket = NetlinkAuditSocket.Open(0, out int errno) ?? throw SocketError(errno);
        return new AuditControlClient(socket, timeout ?? TimeSpan.FromSeconds(5));
    }

    internal static AuditException SocketError(int errno) => errno switch
    {
        Errno.EPROTONOSUPPORT or Errno.EAFNOSUPPORT => new AuditException(AuditErrorKind.Unavailable, errno,
            "this kernel has no audit support (NETLINK_AUDIT is not available; it needs CONFIG_AUDIT)"),
        Errno.EPERM or Errno.EACCES => new AuditException(AuditErrorKind.PermissionDenied, errno,
            "cannot open the audit netlink socket: permission denied; run as root"),
        _ => new AuditException(AuditErrorKind.Kernel, errno, $"cannot open the audit netlink socket: {ErrnoTable.NameOrNumber(errno)}"),
    };

    /// <summary>AUDIT_GET: the current status. Accepts the shorter struct of older kernels.</summary>
    public AuditStatus GetStatus()
    {
        var status = TryGetStatus(out int errno);
        if (status is null)
        {
            throw errno == Errno.EPERM ? PermissionError(errno, "read the audit status (AUDIT_GET)") : Error(errno, "read the audit status (AUDIT_GET)");
        }
        return status;
    }

    /// <summary>AUDIT_GET without throwing for a refused request (used while explaining another error).</summary>
    private AuditStatus? TryGetStatus(out int errno)
    {
        AuditStatus? status = null;
        int rc = _channel.Request(AuditMessageType.Get, default, (type, body) =>
        {
            if (type != AuditMessageType.Get)
            {
                return false;
            }
            status = ParseStatus(body.ToArray());
            return true;
        });
        errno = rc < 0 ? -rc : 0;
        if (rc >= 0 && status is null)
        {
            throw new AuditException(AuditErrorKind.Protocol, 0, "AUDIT_GET was acknowledged without a status reply");
        }
        return rc < 0 ? null : status;
    }

    /// <summary>AUDIT_GET_FEATURE: the loginuid_immutable feature and whether it is locked.</summary>
    public AuditFeatureState GetFeatures()
    {
        AuditFeatureState? state = null;
        int rc = _channel.Request(AuditMessageType.GetFeature, default, (type, body) =>
        {
            if (type != AuditMessageType.GetFeature || body.Length < 16)
            {
                return false;
            }
            uint features = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(8));
            uint locked = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(12));
            uint bit = 1u << (int)AUDIT_FEATURE_LOGINUID_IMMUTABLE;
            state = new AuditFeatureState((features & bit) != 0, (locked & bit) != 0);
            return true;
        });
        if (rc < 0)
        {
            throw Error(-rc, "read the audit features (AUDIT_GET_FEATURE)");
        }
        return state ?? throw new AuditException(AuditErrorKind.Protocol, 0, "AUDIT_GET_FEATURE was acknowledged without a reply");
    }

    internal static AuditStatus ParseStatus(ReadOnlySpan<byte> body)
    {
        // The struct grew over time (feature_bitmap 3.19, backlog_wait_time 3.19,
        // backlog_wait_time_actual 5.9); a field is present only if the reply reaches it.
        if (body.Length < 32)
        {
            throw new AuditException(AuditErrorKind.Protocol, 0, $"audit_status reply of {body.Length} bytes is too short");
        }
        Span<uint> v = stackalloc uint[11];
        int present = Math.Min(11, body.Length / 4);
        for (int i = 0; i < present; i++)
        {
            v[i] = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(4 * i));
        }
        return new AuditStatus
        {
            Enabled = v[1],
            Failure = v[2],
            Pid = v[3],
            RateLimit = v[4],
            BacklogLimit = v[5],
            Lost = v[6],
            Backlog = v[7],
            FeatureBitmap = present > 8 ? v[8] : null,
            BacklogWaitTime = present > 9 ? v[9] : null,
            BacklogWaitTimeActual = present > 10 ? v[10] : null,
        };
    }

    /// <summary>Sets <c>enabled</c>: 0 off, 1 on, 2 immutable (locks everything until reboot).</summary>
    public void SetEnabled(uint value) => Set(AUDIT_STATUS_ENABLED, value, "enabled");

    /// <summary>Sets the failure mode: 0 silent, 1 printk, 2 panic.</summary>
    public void SetFailure(uint value) => Set(AUDIT_STATUS_FAILURE, value, "failure");

    /// <summary>Registers the sending socket's process as consumer (0 unregisters).</summary>
    public void SetPid(uint value) => Set(AUDIT_STATUS_PID, value, "pid");

    public void SetRateLimit(uint value) => Set(AUDIT_STATUS_RATE_LIMIT, value, "rate_limit");

    public void SetBacklogLimit(uint value) => Set(AUDIT_STATUS_BACKLOG_LIMIT, value, "backlog_limit");

    /// <summary>Sets <c>backlog_wait_time</c> in jiffies; 0 means a full backlog never stalls a task.</summary>
    public void SetBacklogWaitTime(uint value) => Set(AUDIT_STATUS_BACKLOG_WAIT_TIME, value, "backlog_wait_time");

    /// <summary>Resets <c>lost</c> to 0.</summary>
    /// <returns>The count before the reset (the ACK carries it as a positive value).</returns>
    public uint ResetLost() => (uint)Set(AUDIT_STATUS_LOST, 0, "lost");

    // One field per message: the kernel applies fields in order and stops at the first error,
    // keeping those already applied (docs/kernel-audit.md, "struct audit_status").
    private int Set(uint maskBit, uint value, string field)
    {
        int rc = SetField(_channel, maskBit, value);
        if (rc < 0)
        {
            throw field == "pid" ? PidError(-rc, value) : Error(-rc, $"set {field}={value}");
        }
        return rc;
    }

    internal static int SetField(AuditRequestChannel channel, uint maskBit, uint value)
    {
        Span<byte> payload = stackalloc byte[AUDIT_STATUS_SIZE];
        payload.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(payload, maskBit);
        int index = maskBit switch
        {
            AUDIT_STATUS_ENABLED => 1,
            AUDIT_STATUS_FAILURE => 2,
            AUDIT_STATUS_PID => 3,
            AUDIT_STATUS_RATE_LIMIT => 4,
            AUDIT_STATUS_BACKLOG_LIMIT => 5,
            AUDIT_STATUS_LOST => 6,
            AUDIT_STATUS_BACKLOG_WAIT_TIME => 9,
            AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL => 10,
            _ => throw new ArgumentOutOfRangeException(nameof(maskBit)),
        };
        BinaryPrimitives.WriteUInt32LittleEndian(payload.Slice(4 * index), value);
        return channel.Request(AuditMessageType.Set, payload);
    }

    /// <summary>
    /// Sends an AUDIT_USER message: the kernel logs it as a USER record with a serial of its own
    /// (docs/kernel-audit.md, "Socket and control"). Needs CAP_AUDIT_WRITE.
    /// </summary>
    public void SendUserMessage(string text)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(text) + 1];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        int rc = _channel.Request(AuditMessageType.User, bytes);
        if (rc < 0)
        {
            throw Error(-rc, "send a user message (AUDIT_USER)");
        }
    }

    /// <summary>ADD_RULE.</summary>
    /// <exception cref="AuditException">Kind <see cref="AuditErrorKind.RuleExists"/> if it is already loaded.</exception>
    public void AddRule(KernelRule rule)
    {
        int rc = _channel.Request(AuditMessageType.AddRule, rule.Bytes);
        if (rc < 0)
        {
            throw -rc == Errno.EEXIST
                ? new AuditException(AuditErrorKind.RuleExists, Errno.EEXIST, "the rule is already loaded")
                : Error(-rc, "add the rule (AUDIT_ADD_RULE)");
        }
    }

    /// <summary>DEL_RULE: deletes the loaded rule equal to <paramref name="rule"/>.</summary>
    /// <exception cref="AuditException">Kind <see cref="AuditErrorKind.RuleNotFound"/> if no such rule is loaded.</exception>
    public void DeleteRule(KernelRule rule)
    {
        int rc = _channel.Request(AuditMessageType.DelRule, rule.Bytes);
        if (rc < 0)
        {
            throw -rc == Errno.ENOENT
                ? new AuditException(AuditErrorKind.RuleNotFound, Errno.ENOENT, "no such rule is loaded")
                : Error(-rc, "delete the rule (AUDIT_DEL_RULE)");
        }
    }

    /// <summary>LIST_RULES: every loaded rule, in kernel order (list by list).</summary>
    public IReadOnlyList<KernelRule> ListRules()
    {
        var rules = new List<KernelRule>();
        int rc = _channel.Request(AuditMessageType.ListRules, default, (type, body) =>
        {
            if (type == AuditMessageType.ListRules)
            {
                rules.Add(KernelRule.FromBytes(body.ToArray()));
            }
            return false; // keep reading until NLMSG_DONE
        }, multi: true);
        if (rc < 0)
        {
            throw Error(-rc, "list the rules (AUDIT_LIST_RULES)");
        }
        return rules;
    }

    /// <summary>Turns a negative ACK into an error in the user's terms.</summary>
    internal AuditException Error(int errno, string what)
    {
        if (errno == Errno.EPERM)
        {
            // EPERM means either "locked" or "not allowed"; only the status tells which.
            bool immutable = TryGetStatus(out _)?.IsImmutable == true;
            return immutable
                ? new AuditException(AuditErrorKind.Immutable, errno,
                    $"cannot {what}: audit configuration is locked (immutable) until reboot")
                : PermissionError(errno, what);
        }
        return ErrorFor(errno, what);
    }

    internal static AuditException ErrorFor(int errno, string what) => errno switch
    {
        Errno.EPERM or Errno.EACCES => PermissionError(errno, what),
        Errno.ECONNREFUSED => new AuditException(AuditErrorKind.Unavailable, errno,
            $"cannot {what}: the kernel refuses audit requests from this namespace (ECONNREFUSED); run in the initial user and PID namespace"),
        _ => new AuditException(AuditErrorKind.Kernel, errno, $"cannot {what}: the kernel answered {ErrnoTable.NameOrNumber(errno)}"),
    };

    internal static AuditException PermissionError(int errno, string what) =>
        new(AuditErrorKind.PermissionDenied, errno,
            $"cannot {what}: permission denied ({ErrnoTable.NameOrNumber(errno)}). This needs root or CAP_AUDIT_CONTROL: run it with sudo, or grant the capability (systemd: AmbientCapabilities=CAP_AUDIT_CONTROL)");

    internal AuditException PidError(int errno, uint requested)
    {
        if (errno == Errno.EEXIST)
        {
            return ConsumerRegistered(TryGetStatus(out _)?.Pid ?? 0);
        }
        if (errno == Errno.EACCES && requested == 0)
        {
            return new AuditException(AuditErrorKind.NotConsumer, errno,
                "cannot unregister the audit consumer: only the registered process may unregister itself");
        }
        return Error(errno, requested == 0 ? "unregister the audit consumer" : "register as the audit consumer");
    }

    internal static AuditException ConsumerRegistered(uint pid) =>
        new(AuditErrorKind.ConsumerRegistered, Errno.EEXIST,
            $"another audit consumer is registered: pid {pid} ({ProcessNames.Comm(pid) ?? "unknown"})");

    public void Dispose() => _socket.Dispose();
}
