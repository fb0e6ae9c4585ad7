namespace Sluice.Collector.Tests.Support;

/// <summary>
/// Base of a test class that runs once per store kind: each leaf (SqliteXTests, PostgresXTests) only names the
/// factory; this holds it and, for the SQLite one, deletes its files when the test is done.
/// </summary>
public abstract class PerStoreTests : IDisposable
{
    private protected PerStoreTests(IStoreFactory stores)
    {
        Stores = stores;
    }

    private protected IStoreFactory Stores { get; }

    public virtual void Dispose()
    {
        (Stores as IDisposable)?.Dispose();
        GC.SuppressFinalize(this);
    }
}
