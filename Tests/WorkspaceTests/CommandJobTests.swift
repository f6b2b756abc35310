import Foundation
import Testing
@testable import Workspace

@Suite struct CommandJobTests {
    func job(_ yaml: String, overrides: [String] = []) throws -> CommandJob {
        var tree = try SpecNode.parse(yaml, file: "job.yml")
        try tree.apply(overrides: overrides)
        return try CommandJob.parse(tree, file: "job.yml")
    }

    @Test func readsAJobAsTheAzureExamplesWriteIt() throws {
        let j = try job("""
            $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
            code: src
            command: >-
              python main.py
              --iris-csv ${{inputs.iris_csv}}
              --C ${{inputs.C}}
              --model-dir ${{outputs.model}}
            inputs:
              iris_csv:
                type: uri_file
                path: ./data/iris.csv
              C: 0.8
              epochs: 10
              name: "007"
            outputs:
              model:
            environment: azureml:AzureML-sklearn-1.5@latest
            compute: azureml:cpu-cluster
            display_name: sklearn-iris-example
            experiment_name: sklearn-iris-example
            description: Train a scikit-learn SVM on the Iris dataset.
            distribution:
              type: pytorch
              process_count_per_instance: 2
            limits:
              timeout: 60
            """)
        #expect(j.command == "python main.py --iris-csv ${{inputs.iris_csv}} --C ${{inputs.C}} --model-dir ${{outputs.model}}")
        #expect(j.code == "src")
        #expect(j.inputs["iris_csv"] == .asset(type: "uri_file", path: "./data/iris.csv", mode: nil, optional: false))
        #expect(j.inputs["C"] == .literal(.number(0.8)))
        #expect(j.inputs["epochs"] == .literal(.integer(10)))
        #expect(j.inputs["name"] == .literal(.string("007")), "a quoted value stays text")
        #expect(j.outputs["model"] == .init(type: "uri_folder", mode: nil))
        #expect(j.environmentName == "azureml:AzureML-sklearn-1.5@latest")
        #expect(j.distribution == .init(type: "pytorch", processCountPerInstance: 2, workerCount: nil))
        #expect(j.timeoutSeconds == 60)
        #expect(j.displayName == "sklearn-iris-example")
    }

    @Test func literalBlocksKeepLines() throws {
        let j = try job("command: |\n  echo one\n  echo two\n")
        #expect(j.command == "echo one\necho two\n")
    }

    @Test func setOverridesAnyField() throws {
        let j = try job("""
            command: python train.py --lr ${{inputs.lr}}
            inputs:
              lr: 0.01
              data:
                type: uri_file
                path: ./a.csv
            """, overrides: ["inputs.lr=0.1", "inputs.data.path=./local.csv", "experiment_name=tuning", "limits.timeout=5"])
        #expect(j.inputs["lr"] == .literal(.number(0.1)))
        #expect(j.inputs["data"] == .asset(type: "uri_file", path: "./local.csv", mode: nil, optional: false))
        #expect(j.experimentName == "tuning")
        #expect(j.timeoutSeconds == 5)
    }

    @Test func mistakesNameTheFileLineAndWhatIsAccepted() throws {
        func message(_ yaml: String) -> String {
            do { _ = try job(yaml); return "no error" } catch let e as WorkspaceError { return e.message } catch { return "\(error)" }
        }
        #expect(message("command: echo\ncomand: typo\n").hasPrefix("job.yml:2: unknown key 'comand'; accepted here: $schema, type"))
        #expect(message("command: echo\ninputs:\n  x:\n    type: uri_file\n    pth: a\n").hasPrefix("job.yml:5: unknown key 'pth' in inputs.x"))
        #expect(message("command: echo\nlimits:\n  timeout: soon\n").hasPrefix("job.yml:3: 'limits.timeout' must be a whole number"))
        #expect(message("command: echo\ndistribution:\n  type: horovod\n").contains("pytorch, mpi or tensorflow"))
        #expect(message("type: sweep\ncommand: echo\n").hasPrefix("job.yml:1: type 'sweep' is not a command job"))
        #expect(message("code: .\n").contains("missing 'command'"))
        #expect(message("command: [echo\n").hasPrefix("job.yml:"))
        #expect(message("command: echo\ninputs:\n  d:\n    type: uri_file\n").hasPrefix("job.yml:3: input 'd' of type uri_file needs a path"))
    }

    @Test func literalsRenderAsAzureInsertsThem() {
        #expect(CommandJob.Literal.integer(10).rendered == "10")
        #expect(CommandJob.Literal.number(2.0).rendered == "2")
        #expect(CommandJob.Literal.number(0.01).rendered == "0.01")
        #expect(CommandJob.Literal.boolean(true).rendered == "True")
    }

    @Test func expressionsAndOptionalBlocks() throws {
        let rendered = try JobExpressions.render(
            "python train.py --lr ${{inputs.lr}} $[[--opt ${{inputs.opt}}]] --out ${{outputs.model}} --home $HOME",
            inputs: ["lr": "0.1"], outputs: ["model": "/tmp/out"], optional: ["opt"], file: "job.yml", line: 3)
        #expect(rendered == "python train.py --lr 0.1  --out /tmp/out --home $HOME")
        let kept = try JobExpressions.render("run $[[--opt ${{inputs.opt}}]]", inputs: ["opt": "x"], outputs: [:], optional: ["opt"], file: "j", line: 1)
        #expect(kept == "run --opt x")
        #expect(throws: WorkspaceError.self) {
            try JobExpressions.render("echo ${{inputs.missing}}", inputs: [:], outputs: [:], optional: [], file: "j", line: 1)
        }
        #expect(throws: WorkspaceError.self) {
            try JobExpressions.render("echo ${{search_space.lr}}", inputs: [:], outputs: [:], optional: [], file: "j", line: 1)
        }
    }
}
