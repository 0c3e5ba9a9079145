using Replug.Coordinator.Hosting;

// replug-coordinator: a coordinator node of a Replug cluster, with the operators' HTTP API.
//   dotnet run --project src/Coordinator                     a coordinator node (founds the cluster without seed nodes)
//   dotnet run --project src/Coordinator -- --standalone     this machine alone: agent and coordinator in one process
// Any setting can be given as --Replug:Section:KEY=VALUE or REPLUG__SECTION__KEY=VALUE; a bad one stops it with exit code 2.
return await CoordinatorHost.RunAsync(args);
