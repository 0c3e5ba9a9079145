using Akka.Hosting;
using Microsoft.Extensions.Hosting;

// The coordinator's logic comes with the cluster (next issue); for now it is a host that
// starts an ActorSystem and stops cleanly on Ctrl-C / SIGTERM.
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddAkka("replug", (_, _) => { });
await builder.Build().RunAsync();
