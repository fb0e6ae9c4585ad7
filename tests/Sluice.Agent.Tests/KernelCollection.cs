using Sluice.Testing;

namespace Sluice.Agent.Tests;

[CollectionDefinition(KernelAuditFixture.Collection, DisableParallelization = true)]
public sealed class KernelCollection : ICollectionFixture<KernelAuditFixture>
{
}
