using System.Data.Common;
using System.Globalization;

using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

/// <summary>Reading helpers that hide the few differences in what the two ADO.NET providers return.</summary>
internal static class ReportSql
{
    public static void Add(DbCommand command, string name, object? value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        command.Parameters.Add(p);
    }

    private const long Half = 1L << 32;

    /// <summary>
    /// "SUM(c / 2^32), SUM(c % 2^32)": the sum of a non-negative bigint column as two sums that cannot overflow,
    /// for <see cref="SplitSum(DbDataReader, int)"/> to join. A plain SUM fails the query once the total passes
    /// 2^63 - 1: SQLite raises "integer overflow", and PostgreSQL's numeric sum does not fit back in a bigint.
    /// Each half stays below 2^32 per row, so neither sum comes near 2^63 before 2^31 rows.
    /// </summary>
    public static string SplitSum(string column) => $"SUM({column} / {Half}), SUM({column} % {Half})";

    /// <summary>The total of the two sums of <see cref="SplitSum(string)"/> at <paramref name="i"/> and i + 1: exact, saturating at <see cref="long.MaxValue"/>.</summary>
    public static long SplitSum(DbDataReader r, int i)
    {
        Int128 total = (Int128)Long(r, i) * Half + Long(r, i + 1);
        return total > long.MaxValue ? long.MaxValue : total < 0 ? 0 : (long)total;
    }

    public static long Long(DbDataReader r, int i) => r.IsDBNull(i) ? 0 : Convert.ToInt64(r.GetValue(i), CultureInfo.InvariantCulture);

    public static long? NullableLong(DbDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToInt64(r.GetValue(i), CultureInfo.InvariantCulture);

    public static bool? NullableBool(DbDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToBoolean(r.GetValue(i), CultureInfo.InvariantCulture);

    public static string Text(DbDataReader r, int i) => r.IsDBNull(i) ? "" : r.GetString(i);

    /// <summary>
    /// "first_type is one of <paramref name="types"/>", with one parameter per type, in the form that
    /// the partial index events_type_time serves (it leaves out <see cref="StoreSchema.UnindexedFirstType"/>).
    /// </summary>
    public static string FirstTypeIn(DbCommand command, string prefix, IReadOnlyList<string> types)
    {
        if (types.Contains(StoreSchema.UnindexedFirstType, StringComparer.Ordinal))
        {
            throw new ArgumentException($"{StoreSchema.UnindexedFirstType} is not indexed by record type: query it by syscall instead", nameof(types));
        }
        var names = new string[types.Count];
        for (int i = 0; i < types.Count; i++)
        {
            names[i] = "@" + prefix + i.ToString(CultureInfo.InvariantCulture);
            Add(command, prefix + i.ToString(CultureInfo.InvariantCulture), types[i]);
        }
        return StoreSchema.FirstTypeIn(names);
    }

    /// <summary>"IN (@p0, @p1, ...)" with one parameter per value.</summary>
    public static string In(DbCommand command, string prefix, IReadOnlyList<string> values)
    {
        var names = new string[values.Count];
        for (int i = 0; i < values.Count; i++)
        {
            names[i] = "@" + prefix + i.ToString(CultureInfo.InvariantCulture);
            Add(command, prefix + i.ToString(CultureInfo.InvariantCulture), values[i]);
        }
        return "IN (" + string.Join(", ", names) + ")";
    }

    /// <summary>The command's single number (0 when it returns none).</summary>
    public static async Task<long> ScalarAsync(DbCommand command, CancellationToken ct) =>
        Convert.ToInt64(await command.ExecuteScalarAsync(ct) ?? 0L, CultureInfo.InvariantCulture);

    public static async Task<List<T>> ReadAsync<T>(DbCommand command, Func<DbDataReader, T> row, CancellationToken ct)
    {
        var list = new List<T>();
        await using var r = await command.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(row(r));
        }
        return list;
    }
}
