using Microsoft.Extensions.Options;
using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Spool;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>TLS to the collector, validated against a CA file generated for the test.</summary>
public sealed class ShipperTlsTests
{
    [Fact]
    public async Task RunAsync_ServerCertificateSignedByConfiguredCa_Delivers()
    {
        using var certificates = TestCertificates.Create();
        await using var collector = await TestCollector.StartAsync(certificates.Server);
        using var dir = new TempDirectory("sluice-tls");
        string caFile = certificates.WriteCaPem(dir.Path);
        await using var harness = ShippingHarness.Create(collector, o =>
        {
            o.AllowInsecureTransport = false;
            o.CaFile = caFile;
        });
        for (int i = 0; i < 10; i++)
        {
            harness.Append(3);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
    }

    [Fact]
    public async Task RunAsync_ServerCertificateFromAnotherCa_RefusedAndNothingSent()
    {
        using var serverCertificates = TestCertificates.Create("Server's CA");
        using var otherCa = TestCertificates.Create("Some other CA");
        await using var collector = await TestCollector.StartAsync(serverCertificates.Server);
        using var dir = new TempDirectory("sluice-tls");
        string caFile = otherCa.WriteCaPem(dir.Path);
        await using var harness = ShippingHarness.Create(collector, o =>
        {
            o.AllowInsecureTransport = false;
            o.CaFile = caFile;
        });
        harness.Append(3);
        harness.Start();
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.Retries >= 3, "failed TLS attempts");
        Assert.Equal(0, collector.Calls);
        Assert.Empty(collector.Stored);
        Assert.Equal(1, harness.Spool.Counters.DepthBatches);
        Assert.Contains("SSL", harness.Shipper.Status.LastError, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void ValidateAgainst_CertificateOfTheCaItself_IsNotAServerCertificateButChainsSoNameDecides()
    {
        using var certificates = TestCertificates.Create();
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(certificates.Ca);
        Assert.True(CollectorChannel.ValidateAgainst(roots, certificates.Server, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(CollectorChannel.ValidateAgainst(roots, certificates.Server, System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.False(CollectorChannel.ValidateAgainst(roots, null, System.Net.Security.SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Theory]
    [InlineData("http://127.0.0.1:1", false, "token", null, "AllowInsecureTransport")]
    [InlineData("ftp://collector", true, "token", null, "CollectorUrl")]
    [InlineData("https://collector:7443", false, null, null, "TokenFile")]
    [InlineData("https://collector:7443", false, "token", "/nonexistent/ca.pem", "CaFile")]
    public void Constructor_InvalidOptions_ThrowsNamingTheKey(string url, bool insecure, string? token, string? caFile, string key)
    {
        using var dir = new TempDirectory("sluice-opts");
        using var spool = Sluice.Agent.Spool.DiskSpool.Open(new Sluice.Agent.Spool.SpoolOptions { Directory = dir.Path, MaxBytes = 1024 * 1024, SegmentBytes = 64 * 1024 });
        var options = new ShipperOptions { CollectorUrl = url, AllowInsecureTransport = insecure, Token = token, CaFile = caFile, QuarantineDirectory = dir.Path };
        var e = Assert.Throws<OptionsValidationException>(() => new Shipper(spool, options));
        Assert.Contains(key, e.Message);
    }
}
