using Grpc.Core;
using Sluice.Protocol.V1;

namespace Sluice.Collector;

/// <summary>Answers <c>GetInfo</c> with the collector's version.</summary>
internal sealed class InfoService : Protocol.V1.Collector.CollectorBase
{
    public override Task<InfoReply> GetInfo(InfoRequest request, ServerCallContext context) =>
        Task.FromResult(new InfoReply { Version = typeof(InfoService).Assembly.GetName().Version?.ToString() ?? "0" });
}
