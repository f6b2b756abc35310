import ArgumentParser

/// `git ml model`: the model registry.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Register, list, tag, alias and download model versions, each traced to the run and commit that made it.",
        discussion: """
        A model version is a commit on refs/ml/models/<name>/<version> whose parent is the producing run's commit; its bytes live in .git/ml/objects. Name one as NAME:VERSION, NAME@ALIAS, NAME@latest, azureml:NAME:VERSION or azureml:NAME@latest, here and in job inputs.

        Examples:
          git ml model register churn --run latest --path outputs/model
          git ml model register churn --from ./model --tag stage=candidate
          git ml model create -f model.yml
          git ml model list
          git ml model show churn@production
          git ml model alias set churn production 3
          git ml model download churn@production ./deploy/model
        """,
        subcommands: [ModelRegister.self, ModelCreate.self, ModelList.self, ModelShow.self, ModelTag.self, ModelDownload.self, ModelAliasCommand.self, ModelPromote.self]
    )
}
