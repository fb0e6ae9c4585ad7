using System.Text;

namespace Sluice.Agent.Enrichment;

/// <summary>What a cgroup path says about a process: the container it runs in and its systemd unit.</summary>
/// <param name="ContainerId">64 lowercase hex digits, or the machine name for systemd-nspawn; null when none is recognised.</param>
/// <param name="Runtime">"docker", "containerd", "cri-o", "podman", "systemd-nspawn", or "kubernetes" (cgroupfs-driver kubepods paths don't name the runtime); null with no container.</param>
/// <param name="PodUid">The pod's uid for kubepods paths, dashes restored; null otherwise.</param>
/// <param name="Unit">The deepest systemd unit (<c>.service</c> or <c>.scope</c>) in the path, as systemd names it (escapes kept); null when none.</param>
internal sealed record CgroupInfo(string? ContainerId, string? Runtime, string? PodUid, string? Unit)
{
    public static readonly CgroupInfo None = new(null, null, null, null);
}

/// <summary>
/// Pure parsing of <c>/proc/PID/cgroup</c> and of one cgroup path (docs/process-context.md lists the
/// patterns). Everything here takes untrusted input (a cgroup directory name is whatever its creator
/// chose): lengths are bounded, nothing throws, and a name that does not match exactly matches nothing.
/// </summary>
internal static class CgroupPath
{
    /// <summary>Longest path kept; longer ones are cut (the kernel's own limit is PATH_MAX per component chain).</summary>
    public const int MaxPathBytes = 4096;

    /// <summary>Longest unit name kept (systemd's own limit, UNIT_NAME_MAX, is 256).</summary>
    public const int MaxUnitChars = 256;

    /// <summary>
    /// Picks the path that describes the process from the text of <c>/proc/PID/cgroup</c>
    /// (<c>hierarchy-ID:controller-list:path</c> per line, cgroup(7)): the v2 line (<c>0::</c>) when it
    /// is not the root, else the v1 <c>name=systemd</c> line when not the root, else any other v1
    /// line that is not the root, else the v2 or systemd root. Null when the text holds no line.
    /// </summary>
    /// <remarks>
    /// A container is looked for in the chosen path first, then in every other line: on a hybrid host
    /// a runtime with the cgroupfs driver shows the container in the v1 controller paths only.
    /// </remarks>
    public static (byte[]? Path, CgroupInfo Info) FromProcFile(ReadOnlySpan<byte> text)
    {
        byte[]? v2 = null, systemd = null, other = null, first = null;
        CgroupInfo? container = null;
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? default : text[(nl + 1)..];
            int c1 = line.IndexOf((byte)':');
            if (c1 < 0)
            {
                continue;
            }
            int c2 = line[(c1 + 1)..].IndexOf((byte)':');
            if (c2 < 0)
            {
                continue;
            }
            ReadOnlySpan<byte> id = line[..c1];
            ReadOnlySpan<byte> controllers = line.Slice(c1 + 1, c2);
            ReadOnlySpan<byte> path = line[(c1 + c2 + 2)..];
            if (path.Length > MaxPathBytes)
            {
                path = path[..MaxPathBytes];
            }
            bool root = path.SequenceEqual("/"u8);
            if (id.SequenceEqual("0"u8) && controllers.IsEmpty)
            {
                v2 = path.ToArray();
            }
            else if (controllers.SequenceEqual("name=systemd"u8))
            {
                systemd = path.ToArray();
            }
            else if (!root && other is null)
            {
                other = path.ToArray();
            }
            first ??= path.ToArray();
            if (!root && container is null)
            {
                var info = Parse(path);
                if (info.ContainerId is not null)
                {
                    container = info;
                }
            }
        }
        byte[]? chosen = NotRoot(v2) ?? NotRoot(systemd) ?? other ?? v2 ?? systemd ?? first;
        if (chosen is null)
        {
            return (null, CgroupInfo.None);
        }
        var parsed = Parse(chosen);
        if (parsed.ContainerId is null && container is not null)
        {
            parsed = parsed with { ContainerId = container.ContainerId, Runtime = container.Runtime, PodUid = container.PodUid };
        }
        return (chosen, parsed);
    }

    private static byte[]? NotRoot(byte[]? path) => path is null || path.AsSpan().SequenceEqual("/"u8) ? null : path;

    /// <summary>Reads the container and unit from one cgroup path (<c>/system.slice/docker-…​.scope</c>).</summary>
    public static CgroupInfo Parse(ReadOnlySpan<byte> path)
    {
        if (path.Length > MaxPathBytes)
        {
            path = path[..MaxPathBytes];
        }
        string? id = null, runtime = null, pod = null, unit = null;
        string? previous = null;
        foreach (Range r in path.Split((byte)'/'))
        {
            ReadOnlySpan<byte> raw = path[r];
            if (raw.IsEmpty)
            {
                continue;
            }
            // Invalid UTF-8 becomes U+FFFD: such a component then matches no pattern.
            string part = Encoding.UTF8.GetString(raw);
            if (Pod(part) is string p)
            {
                pod = p;
            }
            // The innermost container wins (docker in docker: /docker/<a>/docker/<b>).
            if (Container(part, previous) is (string cid, string rt))
            {
                (id, runtime) = (cid, rt);
            }
            if (part.EndsWith(".service", StringComparison.Ordinal) || part.EndsWith(".scope", StringComparison.Ordinal))
            {
                // As systemd names the unit (systemctl, journalctl -u): its \xHH escapes stay as written.
                unit = part.Length > MaxUnitChars ? part[..MaxUnitChars] : part;
            }
            previous = part;
        }
        return new CgroupInfo(id, runtime, id is null ? null : pod, unit);
    }

    private static (string Id, string Runtime)? Container(string part, string? previous)
    {
        if (Scoped(part, "docker-") is string d)
        {
            return (d, "docker");
        }
        if (Scoped(part, "cri-containerd-") is string c)
        {
            return (c, "containerd");
        }
        if (Scoped(part, "crio-") is string o)
        {
            return (o, "cri-o");
        }
        if (!part.StartsWith("libpod-conmon-", StringComparison.Ordinal) && Scoped(part, "libpod-") is string l)
        {
            return (l, "podman");
        }
        if (part.StartsWith("systemd-nspawn@", StringComparison.Ordinal) && part.EndsWith(".service", StringComparison.Ordinal))
        {
            string name = Unescape(part["systemd-nspawn@".Length..^".service".Length]);
            return name.Length is > 0 and <= MaxUnitChars ? (name, "systemd-nspawn") : null;
        }
        if (previous == "machine.slice" && part.StartsWith("machine-", StringComparison.Ordinal) && part.EndsWith(".scope", StringComparison.Ordinal))
        {
            string name = Unescape(part["machine-".Length..^".scope".Length]);
            return name.Length is > 0 and <= MaxUnitChars ? (name, "systemd-nspawn") : null;
        }
        if (IsHex64(part))
        {
            // cgroupfs driver: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>; the path names docker, or only Kubernetes.
            if (previous == "docker")
            {
                return (part, "docker");
            }
            if (previous is not null && previous.StartsWith("pod", StringComparison.Ordinal) && PodUid(previous.AsSpan(3)) is not null)
            {
                return (part, "kubernetes");
            }
        }
        return null;
    }

    /// <summary>The 64-hex id of <c>{prefix}{id}.scope</c>, or null.</summary>
    private static string? Scoped(string part, string prefix)
    {
        if (part.Length == prefix.Length + 64 + ".scope".Length
            && part.StartsWith(prefix, StringComparison.Ordinal) && part.EndsWith(".scope", StringComparison.Ordinal))
        {
            string id = part.Substring(prefix.Length, 64);
            return IsHex64(id) ? id : null;
        }
        return null;
    }

    /// <summary>The pod uid of <c>kubepods-…-pod&lt;uid&gt;.slice</c> (systemd driver, '_' for '-') or <c>pod&lt;uid&gt;</c> (cgroupfs).</summary>
    private static string? Pod(string part)
    {
        if (part.StartsWith("kubepods", StringComparison.Ordinal) && part.EndsWith(".slice", StringComparison.Ordinal))
        {
            int at = part.LastIndexOf("-pod", StringComparison.Ordinal);
            return at < 0 ? null : PodUid(part.AsSpan(at + 4, part.Length - at - 4 - ".slice".Length));
        }
        return part.StartsWith("pod", StringComparison.Ordinal) ? PodUid(part.AsSpan(3)) : null;
    }

    /// <summary>A pod uid (UUID form, '_' read as '-'), lowercase; null if it is not one.</summary>
    private static string? PodUid(ReadOnlySpan<char> text)
    {
        if (text.Length != 36)
        {
            return null;
        }
        Span<char> uid = stackalloc char[36];
        for (int i = 0; i < 36; i++)
        {
            char ch = text[i];
            bool dash = i is 8 or 13 or 18 or 23;
            if (dash ? ch is not ('-' or '_') : !char.IsAsciiHexDigit(ch))
            {
                return null;
            }
            uid[i] = dash ? '-' : char.ToLowerInvariant(ch);
        }
        return new string(uid);
    }

    private static bool IsHex64(string s)
    {
        if (s.Length != 64)
        {
            return false;
        }
        foreach (char ch in s)
        {
            if (!char.IsAsciiHexDigitLower(ch) && !char.IsAsciiDigit(ch))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Decodes systemd's <c>\xHH</c> escapes (systemd.unit(5), "String Escaping"); an escape that is not
    /// one, or that would give a control character, stays as written. Cut to <see cref="MaxUnitChars"/>.
    /// </summary>
    public static string Unescape(string name)
    {
        if (name.Length > MaxUnitChars)
        {
            name = name[..MaxUnitChars];
        }
        if (!name.Contains("\\x", StringComparison.Ordinal))
        {
            return name;
        }
        var bytes = new List<byte>(name.Length);
        byte[] utf8 = Encoding.UTF8.GetBytes(name);
        for (int i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == '\\' && i + 3 < utf8.Length && utf8[i + 1] == 'x'
                && char.IsAsciiHexDigit((char)utf8[i + 2]) && char.IsAsciiHexDigit((char)utf8[i + 3]))
            {
                byte b = (byte)((HexValue(utf8[i + 2]) << 4) | HexValue(utf8[i + 3]));
                if (b >= 0x20 && b != 0x7f)
                {
                    bytes.Add(b);
                    i += 3;
                    continue;
                }
            }
            bytes.Add(utf8[i]);
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
