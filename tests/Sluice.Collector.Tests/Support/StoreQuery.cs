using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Sluice.Collector.Tests.Support;

/// <summary>Plain SQL against a test's store, by its --store value, for what the store's API does not show (a flag column, the catalog).</summary>
public static class StoreQuery
{
    public static async Task<DbConnection> OpenAsync(string spec)
    {
        DbConnection connection = spec.StartsWith("sqlite:", StringComparison.Ordinal)
            ? new SqliteConnection($"Data Source={spec["sqlite:".Length..]};Pooling=false")
            : new NpgsqlConnection(spec["postgres:".Length..]);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>The single value of <paramref name="sql"/>, as a long.</summary>
    public static async Task<long> LongAsync(string spec, string sql)
    {
        await using var connection = await OpenAsync(spec);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every row of <paramref name="sql"/>, each value as text (NULL as null).</summary>
    public static async Task<List<string?[]>> RowsAsync(string spec, string sql)
    {
        await using var connection = await OpenAsync(spec);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string?[]>();
        while (await reader.ReadAsync())
        {
            var row = new string?[reader.FieldCount];
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
            }
            rows.Add(row);
        }
        return rows;
    }
}
