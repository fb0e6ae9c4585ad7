using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Storage.Sqlite;

namespace Sluice.Collector.Storage;

/// <summary>A <c>--store</c> value: <c>sqlite:PATH</c> or <c>postgres:CONNSTRING</c>.</summary>
internal sealed record StoreLocation(StoreKind Kind, string Target)
{
    public static StoreLocation Parse(string value)
    {
        int colon = value.IndexOf(':');
        string scheme = colon < 0 ? "" : value[..colon];
        string target = colon < 0 ? "" : value[(colon + 1)..];
        StoreKind kind = scheme.ToLowerInvariant() switch
        {
            "sqlite" => StoreKind.Sqlite,
            "postgres" or "postgresql" => StoreKind.Postgres,
            _ => throw new FormatException($"--store '{value}': expected sqlite:PATH or postgres:CONNSTRING"),
        };
        if (target.Length == 0)
        {
            throw new FormatException($"--store '{value}': the {scheme} store needs a {(kind == StoreKind.Sqlite ? "file path" : "connection string")} after '{scheme}:'");
        }
        return new StoreLocation(kind, target);
    }

    /// <summary>Opens the store and creates its schema if needed.</summary>
    /// <param name="mustExist">For read-only verbs: a SQLite file that does not exist is an error, not a new empty store.</param>
    public Task<IEventStore> OpenAsync(bool mustExist, CancellationToken cancellationToken) => OpenAsync(mustExist, null, cancellationToken);

    /// <summary>Opens the store and creates its schema if needed.</summary>
    /// <param name="mustExist">For read-only verbs: a SQLite file that does not exist is an error, not a new empty store.</param>
    /// <param name="timeBounds">For <c>serve</c>: the event times indexed as they are (<see cref="EventTimeBounds"/>); null for verbs that only read.</param>
    public async Task<IEventStore> OpenAsync(bool mustExist, EventTimeBounds? timeBounds, CancellationToken cancellationToken)
    {
        if (Kind == StoreKind.Sqlite && mustExist && !File.Exists(Target))
        {
            throw new FileNotFoundException($"no SQLite store at {Target}", Target);
        }
        IEventStore store = Kind switch
        {
            StoreKind.Sqlite => new SqliteEventStore(Target, new SqliteStoreOptions { TimeBounds = timeBounds }),
            _ => new PostgresEventStore(Target, timeBounds),
        };
        try
        {
            await store.InitializeAsync(cancellationToken);
            if (store is Retention.IRetentionStore { UpgradedFrom: long from })
            {
                // Every verb opens its store here; serve's output goes to the journal with the rest of its log.
                Console.Error.WriteLine($"sluice-collector: {StoreSchema.Upgraded(ToString(), from)}");
            }
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>True for a PostgreSQL connection string that carries a password.</summary>
    public bool HasPassword
    {
        get
        {
            try
            {
                return Kind == StoreKind.Postgres && !string.IsNullOrEmpty(new Npgsql.NpgsqlConnectionStringBuilder(Target).Password);
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
    }

    /// <summary>For messages: the connection string's password is not shown.</summary>
    public override string ToString() => Kind == StoreKind.Sqlite ? $"sqlite:{Target}" : "postgres:" + RedactPassword(Target);

    private static string RedactPassword(string connectionString)
    {
        try
        {
            var b = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            if (!string.IsNullOrEmpty(b.Password))
            {
                b.Password = "***";
            }
            return b.ToString();
        }
        catch (ArgumentException)
        {
            return "(unparsable connection string)";
        }
    }
}

internal enum StoreKind
{
    Sqlite,
    Postgres,
}
