using System.Data.Common;
using System.Text;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// Filters on an event's process context (schema 9, <see cref="ContextColumns"/>), shared by the event search and
/// <c>export</c>: the parent's exe, the container, the systemd unit. Each given must match; a value the agent did not
/// know (state UNKNOWN) matches none.
/// </summary>
/// <remarks>
/// <see cref="ParentExe"/> is as the search's exe: with a '/' the whole path, without one the program name (the last
/// path component). <see cref="Container"/> is a container id: 12 to 63 hex digits are a prefix (docker's short ids
/// are 12), anything else the whole id (64 hex digits, or a systemd-nspawn machine name). <see cref="Unit"/> is the
/// whole unit name (<c>ssh.service</c>, <c>session-3.scope</c>). The columns are bounded (<see cref="IndexedText"/>):
/// each row found is checked against the event's exact copy (<see cref="Matches"/>).
/// </remarks>
internal sealed record ContextFilter(string? ParentExe = null, string? Container = null, string? Unit = null)
{
    /// <summary>Hex digits a container id prefix must have: docker's short id.</summary>
    public const int MinContainerPrefix = 12;

    /// <summary>Hex digits of a whole docker, containerd, cri-o or podman id.</summary>
    public const int ContainerIdHexDigits = 64;

    public bool IsEmpty => ParentExe is null && Container is null && Unit is null;

    /// <summary>Whether <see cref="Container"/> is a prefix (12 to 63 hex digits) rather than a whole id.</summary>
    public bool ContainerIsPrefix => Container is { Length: >= MinContainerPrefix and < ContainerIdHexDigits } c && IsHex(c);

    /// <summary>
    /// A container search term as given by a user: hex ids in lower case (as the agent writes them). Throws
    /// <see cref="FormatException"/> naming <paramref name="parameter"/> for one that no id can match.
    /// </summary>
    public static string? ParseContainer(string? value, string parameter)
    {
        if (value is null)
        {
            return null;
        }
        if (value.Any(char.IsControl))
        {
            throw new FormatException($"{parameter}: a container id holds no control characters");
        }
        string lower = value.ToLowerInvariant();
        if (IsHex(lower) && lower.Length > ContainerIdHexDigits)
        {
            throw new FormatException($"{parameter}: '{Clip(value)}' has {value.Length} hex digits; a container id has {ContainerIdHexDigits}");
        }
        if (IsHex(lower) && lower.Length < MinContainerPrefix)
        {
            throw new FormatException(
                $"{parameter}: '{Clip(value)}' is too short: give the whole id or at least {MinContainerPrefix} hex digits of it (docker's short id)");
        }
        return IsHex(lower) ? lower : value;
    }

    private static bool IsHex(string s) => s.Length > 0 && s.All(char.IsAsciiHexDigitLower);

    private static string Clip(string s) => s.Length <= 64 ? s : s[..64] + "…";

    /// <summary>Appends <c> AND ...</c> for each filter given, on events aliased <c>e</c>, with its parameters.</summary>
    public void AppendSql(StringBuilder sql, DbCommand command, SqlDialect dialect)
    {
        if (ParentExe is not null)
        {
            if (ParentExe.Contains('/'))
            {
                sql.Append(" AND e.parent_exe = @pexe");
                StoreSql.Add(command, "pexe", IndexedText.Bound(ParentExe));
            }
            else
            {
                sql.Append(" AND e.parent_exe IS NOT NULL AND ").Append(dialect.EndsWith("e.parent_exe", "@pexe"));
                StoreSql.Add(command, "pexe", "/" + ParentExe);
            }
        }
        if (Container is not null)
        {
            if (ContainerIsPrefix)
            {
                // The range lets the index find the prefix (hex digits sort below 'g' in any collation); the
                // prefix test is the exact cut.
                sql.Append(" AND e.container_id >= @cid AND e.container_id < @cidend AND ").Append(dialect.StartsWith("e.container_id", "@cid"));
                StoreSql.Add(command, "cid", Container);
                StoreSql.Add(command, "cidend", Container + "g");
            }
            else
            {
                sql.Append(" AND e.container_id = @cid");
                StoreSql.Add(command, "cid", IndexedText.Bound(Container));
            }
        }
        if (Unit is not null)
        {
            sql.Append(" AND e.unit = @unit");
            StoreSql.Add(command, "unit", IndexedText.Bound(Unit));
        }
    }

    /// <summary>The filters against the event's exact copy: its context's whole values, as the columns hold them but unbounded.</summary>
    public bool Matches(Event e)
    {
        var c = e.Context;
        if (ParentExe is not null)
        {
            string exe = EventSummary.SearchText(ContextColumns.ParentExe(c)) ?? "";
            if (!(ParentExe.Contains('/') ? exe == ParentExe : exe.EndsWith("/" + ParentExe, StringComparison.Ordinal)))
            {
                return false;
            }
        }
        if (Container is not null)
        {
            string id = Clean(ContextColumns.ContainerOf(c)?.Id);
            if (!(ContainerIsPrefix ? id.StartsWith(Container, StringComparison.Ordinal) : id == Container))
            {
                return false;
            }
        }
        return Unit is null || Clean(ContextColumns.UnitOf(c)) == Unit;
    }

    private static string Clean(string? s) => s is null ? "" : s.Replace('\0', '\uFFFD');
}
