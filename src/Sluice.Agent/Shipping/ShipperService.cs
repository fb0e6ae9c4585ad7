using Microsoft.Extensions.Hosting;
using Sluice.Agent.Spool;

namespace Sluice.Agent.Shipping;

/// <summary>Runs the <see cref="Shipper"/> for the life of the host. At stop, the open batch is cut into the spool; what is not acknowledged stays there for the next start.</summary>
internal sealed class ShipperService(Shipper shipper, Batcher batcher, DiskSpool spool) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => shipper.RunAsync(stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        batcher.Flush();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        spool.Flush();
    }
}
