using Sluice.Collector;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddGrpc();
var app = builder.Build();

app.MapGet("/healthz", () => Results.Text("ok\n"));
app.MapGrpcService<InfoService>();

app.Run();
