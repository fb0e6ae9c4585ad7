using Sluice.Testing;

namespace Sluice.Audit.Tests;

[CollectionDefinition(KernelAuditFixture.Collection, DisableParallelization = true)]
public sealed class KernelCollection : ICollectionFixture<KernelAuditFixture>
{
}
