namespace Sluice.Audit.Netlink;

/// <summary>What went wrong talking to the kernel, in the terms a user acts on.</summary>
public enum AuditErrorKind
{
    /// <summary>Any other kernel error; see <see cref="AuditException.Errno"/>.</summary>
    Kernel,
    /// <summary>The kernel has no audit support, or audit is not reachable from this namespace.</summary>
    Unavailable,
    /// <summary>Not root, or missing CAP_AUDIT_CONTROL / CAP_AUDIT_READ.</summary>
    PermissionDenied,
    /// <summary>Audit is locked (<c>enabled=2</c>) until reboot.</summary>
    Immutable,
    /// <summary>Another process is the registered audit consumer.</summary>
    ConsumerRegistered,
    /// <summary>Only the registered consumer may unregister.</summary>
    NotConsumer,
    /// <summary>ADD_RULE: the same rule is already loaded.</summary>
    RuleExists,
    /// <summary>DEL_RULE: no such rule is loaded.</summary>
    RuleNotFound,
    /// <summary>The kernel did not answer in time.</summary>
    Timeout,
    /// <summary>The kernel sent something we could not make sense of.</summary>
    Protocol,
}

/// <summary>An audit netlink request failed; the message says why and what to do.</summary>
public sealed class AuditException : Exception
{
    public AuditException(AuditErrorKind kind, int errno, string message) : base(message)
    {
        Kind = kind;
        Errno = errno;
    }

    public AuditErrorKind Kind { get; }

    /// <summary>The positive errno the kernel returned, or 0.</summary>
    public int Errno { get; }
}
