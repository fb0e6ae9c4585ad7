using Sluice.Testing;

namespace Sluice.Agent.Tests;

/// <summary>Every test that touches the kernel's audit state runs in this one serialized collection.</summary>
[CollectionDefinition(KernelAuditFixture.Collection, DisableParallelization = true)]
public sealed class KernelCollection : ICollectionFixture<KernelAuditFixture>;
